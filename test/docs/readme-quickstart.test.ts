/**
 * The README's quick start, as a reader on a fresh machine runs it: `npm start` (the start script
 * from package.json, run with bash in an empty folder), then the curl it prints, the README's own
 * curl and OpenAI SDK snippet with the token it printed, and the commands that show the recording.
 * `npm ci` is not run here (see support/manifest.ts): the suite already runs in an installed checkout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { docBlock } from './support/markdown.ts';
import { assignedTo, BLOCKS } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute } from './support/shell.ts';

const README_URL = 'http://127.0.0.1:8080';

let shims: string;
let cwd: string;
let child: ChildProcess;
/** What `npm start` printed, and what the reader copies from it. */
let banner: string;
let url: string;
let agentToken: string;
let adminToken: string;

before(async () => {
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-quickstart-'));
  // `npm start` runs package.json's start script from the package folder; here it runs in an empty
  // folder (the demo keeps ./data there) with the script's bin path made absolute, on a free port
  // (the demo config reads GATEHOUSE_LISTEN) instead of 8080.
  const script = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  const command = substitute(script, [['bin/gatehouse.js', resolve('bin/gatehouse.js')]]);
  child = spawn('bash', ['-c', `exec ${command}`], { cwd, env: shellEnv(shims, { GATEHOUSE_LISTEN: '127.0.0.1:0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  banner = await new Promise<string>((done, fail) => {
    let text = '';
    child.stderr!.on('data', (d) => {
      text += d;
      if (text.includes('sessions list')) done(text);
    });
    child.once('exit', (code) => fail(new Error(`npm start exited ${code}: ${text}`)));
  });
  url = /data plane: (http:\/\/127\.0\.0\.1:\d+)\/proxy\//.exec(banner)?.[1] ?? '';
  agentToken = /export GTH=(gth_\w+)/.exec(banner)?.[1] ?? '';
  adminToken = /export GATEHOUSE_TOKEN=(gta_\w+)/.exec(banner)?.[1] ?? '';
  // A guard, not a measurement: a start that never prints its banner fails the file instead of hanging it.
}, { timeout: 120_000 });
after(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => shellEnv(shims, extra);

function assertChatReply(stdout: string, sent: string): void {
  const reply = JSON.parse(stdout) as { choices: { message: { content: string } }[] };
  // The demo model echoes the prompt: the request went through the gateway to the model and back.
  assert.equal(reply.choices[0]?.message.content, `Echo: ${sent}`);
}

const CASES: Record<string, () => Promise<void>> = {
  'README.md › Quick start (one command) › 1': async () => {
    const parts = commandsOf(docBlock('README.md › Quick start (one command) › 1').text)[0]!.split('&&').map((p) => p.trim());
    assert.deepEqual(parts, ['npm ci', 'npm start']);
    const handling = BLOCKS['README.md › Quick start (one command) › 1']!;
    assert.ok('notRun' in handling && handling.notRun && 'npm ci' in handling.notRun, 'npm ci is skipped only with its reason');
    // npm start (run in `before`): the banner the README describes.
    assert.ok(url && agentToken && adminToken, banner);
    assert.match(banner, /Gatehouse is running \(sqlite store/);
    assert.match(banner, /Admin token \(shown once; store it now\):/);
    assert.match(banner, /Try it \(a demo agent token, valid 1 hour, scoped to the "demo" connection\):/);
    // The curl it prints, exactly as printed.
    const printed = banner.slice(banner.indexOf('  export GTH=')).split('\n  npx gatehouse')[0]!;
    const result = await runBash(printed, { cwd, env: env() });
    assert.equal(result.code, 0, describe(printed, result));
    assertChatReply(result.stdout, 'Hello, gateway');
  },

  'README.md › Quick start (one command) › 2': async () => {
    const script = substitute(docBlock('README.md › Quick start (one command) › 2').text, [
      ['gth_…', agentToken],
      [README_URL, url],
    ]);
    const result = await runBash(script, { cwd, env: env() });
    assert.equal(result.code, 0, describe(script, result));
    assertChatReply(result.stdout, 'Hello, gateway');
  },

  'README.md › Quick start (one command) › 3': async () => {
    // Run as an ES module from the repository, where `openai` is installed, as a reader's project would have it.
    const code = substitute(docBlock('README.md › Quick start (one command) › 3').text, [[README_URL, url]]);
    const result = await runBash('node --input-type=module -e "$SNIPPET"', { cwd: resolve('.'), env: env({ GTH: agentToken, SNIPPET: code }) });
    assert.equal(result.code, 0, describe(code, result));
    // Streamed back piece by piece and written out whole.
    assert.equal(result.stdout, 'Echo: hi');
  },

  'README.md › Quick start (one command) › 4': async () => {
    const [exports, list, show] = commandsOf(
      substitute(docBlock('README.md › Quick start (one command) › 4').text, [
        [README_URL, url],
        ['gta_…', adminToken],
      ]),
    ) as [string, string, string];
    const listed = await runBash(`${exports}\n${list}`, { cwd, env: env() });
    assert.equal(listed.code, 0, describe(list, listed));
    // The requests of the cases above, made with the demo agent token: one session.
    const ids = listed.stdout.match(/^ses_\w+/gm) ?? [];
    assert.equal(ids.length, 1, listed.stdout);
    const shown = await runBash(`${exports}\n${substitute(show, [['ses_…', ids[0]!]])}`, { cwd, env: env() });
    assert.equal(shown.code, 0, describe(show, shown));
    assert.match(shown.stdout, /→ demo \(http\)/);
    assert.match(shown.stdout, /Hello, gateway/);
    assert.match(shown.stdout, /^hash chain: verified$/m);
  },
};

// In block order: the recording shown by the last block holds the requests of the ones before.
for (const id of assignedTo('readme-quickstart.test.ts')) {
  test(id, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('readme-quickstart.test.ts'));
});
