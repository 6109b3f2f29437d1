/**
 * The README's admin commands (connections, tokens and service accounts, recordings) run with bash
 * against one gateway this file starts, in the order the README gives them; the README's sample of
 * a configuration error is compared with what `gatehouse start` prints.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute, type ShellResult } from './support/shell.ts';

let t: TestGateway;
let shims: string;
let cwd: string;
before(async () => {
  t = await startTestGateway();
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-readme-'));
});
after(async () => {
  await t.close();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** The reader's shell after the quick start: GATEHOUSE_URL and GATEHOUSE_TOKEN exported. */
async function sh(command: string): Promise<ShellResult> {
  const result = await runBash(command, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN }) });
  assert.equal(result.code, 0, describe(command, result));
  return result;
}

/** What later blocks use from earlier ones, as a reader would copy it from the output. */
const seen: { aliceToken?: string } = {};

async function chat(token: string): Promise<number> {
  const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'from the README' }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

const CASES: Record<string, () => Promise<void>> = {
  'README.md › Connections › 1': async () => {
    // `sk-…` stays as written: it is the value the README's reader stores, and nothing calls upstream.
    const [add, list] = commandsOf(docBlock('README.md › Connections › 1').text);
    assert.match((await sh(add!)).stdout, /^connection openai2 saved \(credential stored, sealed\)$/m);
    const listed = (await sh(list!)).stdout;
    assert.match(listed, /^openai2\s+openai\s+https:\/\/api\.openai\.com\/?\s+llm\s+true\s+api$/m, listed);
    assert.ok(!listed.includes('sk-…'), 'the credential is never shown');
  },

  'README.md › Tokens and service accounts › 1': async () => {
    const commands = commandsOf(docBlock('README.md › Tokens and service accounts › 1').text);
    assert.equal(commands.length, 7);
    const [create, createFor, list, revoke, saCreate, exchange, offboard] = commands as [string, string, string, string, string, string, string];

    const created = (await sh(create)).stdout;
    assert.match(created, /^gth_\w+\n\(id tok_\w+, expires .+; shown once\)$/m, created);
    const tokenId = /\(id (tok_\w+)/.exec(created)![1]!;

    const forAlice = (await sh(createFor)).stdout;
    seen.aliceToken = /^(gth_\w+)$/m.exec(forAlice)![1]!;
    // Alice uses her token once, so the Recordings block below has a session of hers to show.
    assert.equal(await chat(seen.aliceToken), 200);

    const listed = (await sh(substitute(list, [['[--all]', '--all']]))).stdout;
    assert.match(listed, /nightly-eval/, listed);
    assert.match(listed, /alice/, listed);

    assert.match((await sh(substitute(revoke, [['tok_…', tokenId]]))).stdout, new RegExp(`^revoked 1 token\\(s\\): ${tokenId}$`, 'm'));

    const account = (await sh(saCreate)).stdout;
    assert.match(account, /\(service account ci-evals, id \w+, expires .+; secret shown once\)/, account);
    const secret = /^(gts_\w+)$/m.exec(account)![1]!;

    const exchanged = (await sh(substitute(exchange, [['gts_…', secret]]))).stdout.trim();
    assert.match(exchanged, /^gth_\w+$/);
    // What a CI job runs gets a working token for the account's connections.
    assert.equal(await chat(exchanged), 200);

    // Offboarding alice revokes her token (and the service account she owns is not hers to hold).
    assert.match((await sh(offboard)).stdout, /^revoked \d+ token\(s\) of alice$/m);
    assert.equal(await chat(seen.aliceToken), 401);
  },

  'README.md › Recordings › 1': async () => {
    assert.ok(seen.aliceToken, 'runs after the Tokens block, whose alice made a request');
    const [list, show] = commandsOf(docBlock('README.md › Recordings › 1').text) as [string, string];
    const listed = (
      await sh(
        substitute(list, [
          ['[--principal alice]', '--principal alice'],
          ['[--connection openai]', '--connection openai'],
        ]),
      )
    ).stdout;
    const session = /^(ses_\w+)\s+alice\s+openai\s/m.exec(listed);
    assert.ok(session, listed);
    assert.equal(listed.match(/^ses_/gm)?.length, 1, `only alice's session on openai: ${listed}`);

    const shown = (await sh(substitute(show, [['ses_…', session[1]!]]))).stdout;
    assert.match(shown, new RegExp(`^session ${session[1]}  alice → openai \\(http\\)`, 'm'), shown);
    assert.match(shown, /POST \/v1\/chat\/completions/);
    assert.match(shown, /from the README/);
    assert.match(shown, /^hash chain: verified$/m);
  },

  'README.md › Running it for real › 3': async () => {
    // The sample: a config whose connections[0].upstream, on line 5, is not a URL. The README shows
    // it as /etc/gatehouse/gatehouse.yaml; here the file lives in a temporary folder.
    const sample = docBlock('README.md › Running it for real › 3').text;
    await writeFile(join(cwd, 'gatehouse.yaml'), 'connections:\n  - name: openai\n    type: openai\n    credential: x\n    upstream: api.openai.com\n');
    const result = await runBash('npx gatehouse start --config gatehouse.yaml', { cwd, env: shellEnv(shims) });
    assert.equal(result.code, 2, describe('gatehouse start', result));
    // bin/gatehouse.js notes on stderr when it runs the sources through tsx; that line is not the error.
    const printed = result.stderr
      .split('\n')
      .filter((line) => !line.startsWith('gatehouse: dist/'))
      .join('\n')
      .split(`${cwd}/`)
      .join('/etc/gatehouse/');
    assert.equal(printed, sample);
    assert.equal(result.stdout, '', 'nothing on stdout, no stack trace');
  },
};

// In file order: Recordings reads what the Tokens block left behind.
for (const id of ['README.md › Running it for real › 3', 'README.md › Connections › 1', 'README.md › Tokens and service accounts › 1', 'README.md › Recordings › 1']) {
  test(id, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('readme-cli.test.ts'));
});
