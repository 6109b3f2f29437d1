/**
 * The offboarding commands of README.md and docs/identity.md, run with bash against a gateway this
 * file starts, in the order a reader meets them; their output samples are compared with what the
 * commands print, and the Entra ID request shown in docs/identity.md is sent as written.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute, type ShellResult } from './support/shell.ts';
import { entra, scimRequest } from '../api/scim-fixtures.ts';

let t: TestGateway;
let shims: string;
let cwd: string;
before(async () => {
  t = await startTestGateway({ extraYaml: 'identity:\n  serviceAccounts: { maxExpiry: 30d }\n' });
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-offboarding-'));
});
after(async () => {
  await t.close();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

async function sh(command: string): Promise<ShellResult> {
  const result = await runBash(command, { cwd, env: shellEnv(shims, { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN }) });
  assert.equal(result.code, 0, describe(command, result));
  return result;
}

async function chat(token: string): Promise<number> {
  const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** `actual` with each value the sample elides (a string with `…`) taken from the sample when it fits. */
function elide(actual: unknown, sample: unknown): unknown {
  if (typeof sample === 'string' && sample.includes('…') && typeof actual === 'string') {
    const pattern = new RegExp(`^${sample.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    return pattern.test(actual) ? sample : actual;
  }
  if (Array.isArray(sample) && Array.isArray(actual)) return actual.map((value, i) => elide(value, sample[i]));
  if (sample && actual && typeof sample === 'object' && typeof actual === 'object') {
    return Object.fromEntries(Object.entries(actual).map(([key, value]) => [key, elide(value, (sample as Record<string, unknown>)[key])]));
  }
  return actual;
}

/** What later blocks use from earlier ones, as a reader would copy it from the output. */
const seen: { disabled?: string; scimToken?: string; scimId?: string } = {};

const CASES: Record<string, () => Promise<void>> = {
  'docs/identity.md › Disabling a person › 1': async () => {
    // Alice: provisioned over SCIM, an agent token, a service account and a token exchanged from it.
    const scim = (await t.api('POST', '/scim/tokens', { name: 'docs' })).json.token as string;
    seen.scimId = (await scimRequest(t.url, 'POST', '/Users', { ...entra.createUser('alice@example.com', 'ext-alice'), emails: undefined, name: undefined }, { auth: scim })).json.id;
    const token = await t.token({ user: 'alice@example.com' });
    const account = await t.api('POST', '/service-accounts', { name: 'alice-nightly', owner: 'alice@example.com', connections: ['openai'], expires: '7d' });
    const exchanged = await fetch(`${t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${account.json.secret}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(exchanged.status, 201);

    const [list, show, disable, enable] = commandsOf(docBlock('docs/identity.md › Disabling a person › 1').text) as [string, string, string, string];
    assert.match((await sh(list)).stdout, /^alice@example\.com\s+-\s+-\s+scim$/m);
    const shown = (await sh(show)).stdout;
    assert.match(shown, /^user alice@example\.com \(usr_\w+\)/m);
    assert.match(shown, /alice-nightly/);
    seen.disabled = (await sh(disable)).stdout.trim();
    assert.equal(await chat(token), 401);
    assert.match((await sh(enable)).stdout, /^enabled alice@example\.com/m);
    assert.equal(await chat(token), 401, 'enable revives nothing');
  },

  'docs/identity.md › Disabling a person › 2': async () => {
    assert.ok(seen.disabled, 'runs after the commands it shows the output of');
    assert.equal(seen.disabled, docBlock('docs/identity.md › Disabling a person › 2').text.trim());
  },

  'docs/identity.md › SCIM provisioning › 1': async () => {
    const [create] = commandsOf(docBlock('docs/identity.md › SCIM provisioning › 1').text) as [string];
    const out = (await sh(create)).stdout.trim();
    seen.scimToken = /^(gsc_[0-9A-Za-z]{40})$/m.exec(out)?.[1];
    assert.ok(seen.scimToken, out);
    assert.equal((await scimRequest(t.url, 'GET', '/ServiceProviderConfig', undefined, { auth: seen.scimToken })).status, 200);
  },

  'docs/identity.md › SCIM provisioning › 2': async () => {
    const out = (await sh('gatehouse scim token create --name okta')).stdout.trim().split('\n');
    const sample = docBlock('docs/identity.md › SCIM provisioning › 2').text.trim().split('\n');
    assert.equal(out.length, sample.length);
    assert.match(out[0]!, /^gsc_[0-9A-Za-z]{40}$/);
    assert.equal(sample[0], 'gsc_…');
    assert.equal(out[1]!.replace(/tok_\w+/, 'tok_…'), sample[1]);
  },

  'docs/identity.md › Microsoft Entra ID › 1': async () => {
    assert.ok(seen.scimToken && seen.scimId, 'runs after the blocks above');
    const token = await t.token({ user: 'alice@example.com' });
    const command = substitute(docBlock('docs/identity.md › Microsoft Entra ID › 1').text, [
      ['usr_…', seen.scimId],
      ['gsc_…', seen.scimToken],
    ]);
    const answer = JSON.parse((await sh(command)).stdout);
    assert.equal(answer.active, false);
    assert.equal(await chat(token), 401);
    const sample = JSON.parse(docBlock('docs/identity.md › Microsoft Entra ID › 2').text);
    assert.deepEqual(elide(answer, sample), sample);
  },

  'docs/identity.md › Microsoft Entra ID › 2': async () => {
    // Compared in the case above, with the answer the command printed.
    assert.equal(docBlock('docs/identity.md › Microsoft Entra ID › 2').lang, 'text');
  },

  'README.md › Offboarding › 1': async () => {
    const token = await t.token({ user: 'alice' });
    await t.api('POST', '/service-accounts', { name: 'alice-readme', owner: 'alice', connections: ['openai'], expires: '7d' });
    const [disable, enable, scim] = commandsOf(docBlock('README.md › Offboarding › 1').text) as [string, string, string];
    assert.equal((await sh(disable)).stdout.trim(), 'disabled alice: revoked 2 token(s), disabled service accounts: alice-readme');
    assert.equal(await chat(token), 401);
    assert.match((await sh(enable)).stdout, /^enabled alice /m);
    assert.equal(await chat(await t.token({ user: 'alice' })), 200);
    assert.match((await sh(scim)).stdout, /^gsc_[0-9A-Za-z]{40}$/m);
  },
};

// In the order a reader meets them: each block may use what the ones before it left.
for (const id of [
  'docs/identity.md › Disabling a person › 1',
  'docs/identity.md › Disabling a person › 2',
  'docs/identity.md › SCIM provisioning › 1',
  'docs/identity.md › SCIM provisioning › 2',
  'docs/identity.md › Microsoft Entra ID › 1',
  'docs/identity.md › Microsoft Entra ID › 2',
  'README.md › Offboarding › 1',
]) {
  test(id, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('offboarding-doc.test.ts'));
});
