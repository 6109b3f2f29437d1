/**
 * docs/approvals.md as a reader uses it: a gateway configured with the page's own YAML, the page's
 * OpenAI SDK snippet as the agent (run with tsx), and the page's approver commands run with bash
 * through the `gatehouse` CLI while the agent's call waits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { extractBlocks } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { describe as explain, makeShims, runBash, shellEnv, substitute } from '../docs/support/shell.ts';

const DOC = 'docs/approvals.md';
const blocks = extractBlocks(DOC);
const block = (heading: string, index: number) => {
  const found = blocks.find((b) => b.heading === heading && b.index === index);
  assert.ok(found, `${DOC} › ${heading} › ${index} is missing`);
  return found;
};
const PLACEHOLDER_ID = 'apr_0190c0ffee';

let t: TestGateway;
let shims: string;
let scratch: string;
let olive: Person;
let agentToken: string;

before(async () => {
  // The page's config block, as it stands, is the gateway's policy, roles and approvals section.
  t = await startTestGateway({ policyYaml: block('The rule', 1).text });
  shims = await makeShims();
  // Inside the checkout, so the snippet's `import OpenAI from 'openai'` resolves as in a reader's project.
  scratch = await mkdtemp(resolve('.approvals-doc-'));
  olive = await personWithToken(t.gateway.store, 'olive', ['oncall']);
  agentToken = await t.token({ user: 'ada' });
});
after(async () => {
  await t?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

test('this file runs exactly the blocks the manifest assigns it', () => {
  const runner = '../e2e/approvals-doc.test.ts';
  assert.deepEqual(
    assignedTo(runner),
    [...['The flow with the OpenAI SDK › 1', 'The flow with the OpenAI SDK › 2', 'The flow with the OpenAI SDK › 3'].map((h) => `${DOC} › ${h}`), 'README.md › Human approval › 2', 'README.md › Human approval › 4'].sort(),
  );
});

test('README\'s approval flow shows the very SDK snippet and approver commands this file runs', () => {
  const readme = extractBlocks('README.md');
  const readmeBlock = (index: number) => readme.find((b) => b.heading === 'Human approval' && b.index === index)?.text;
  assert.equal(readmeBlock(2), block('The flow with the OpenAI SDK', 1).text);
  assert.equal(readmeBlock(4), block('The flow with the OpenAI SDK', 2).text);
});

async function pendingWith(text: string): Promise<string> {
  let id: string | undefined;
  await pollUntil(async () => {
    id = ((await t.api('GET', '/approvals?status=pending')).json.approvals as any[]).find((a) => String(a.summary.prompt).includes(text))?.id;
    return id !== undefined;
  }, `a pending approval for "${text}"`);
  return id!;
}

const approverShell = (script: string) =>
  runBash(`set -eo pipefail\n${script}`, { cwd: shims, env: shellEnv(shims, { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: olive.token }) });

test('the SDK snippet waits while the approver runs the page\'s commands, then prints the model\'s answer', async () => {
  const snippet = substitute(block('The flow with the OpenAI SDK', 1).text, [['http://127.0.0.1:8080', t.url]]);
  const file = join(scratch, 'agent.mts');
  await writeFile(file, snippet);
  const agent = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, GATEHOUSE_AGENT_TOKEN: agentToken } });
  let stdout = '';
  let stderr = '';
  agent.stdout.on('data', (d) => (stdout += d));
  agent.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((done) => agent.once('close', done));

  const id = await pendingWith('delete the staging bucket');
  const commands = substitute(block('The flow with the OpenAI SDK', 2).text, [[PLACEHOLDER_ID, id]]);
  const result = await approverShell(commands);
  assert.equal(result.code, 0, explain(commands, result));
  assert.match(result.stdout, new RegExp(id), 'list and show name the approval');
  assert.match(result.stdout, /delete the staging bucket/, 'the approver reads the (masked) request');

  assert.equal(await exited, 0, stderr);
  assert.ok(stdout.trim().length > 0, 'the model answered');
  assert.doesNotMatch(stdout, /ask an approver/);
  assert.equal((await t.api('GET', `/approvals/${id}`)).json.status, 'used');
});

test('the page\'s deny command refuses a held request: it fails with approval_denied', async () => {
  const held = fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'delete the prod bucket too' }] }),
  });
  held.catch(() => undefined);
  const id = await pendingWith('delete the prod bucket too');
  const command = substitute(block('The flow with the OpenAI SDK', 3).text, [[PLACEHOLDER_ID, id]]);
  const result = await approverShell(command);
  assert.equal(result.code, 0, explain(command, result));
  const response = await held;
  assert.equal(response.status, 403);
  assert.equal(((await response.json()) as any).error.code, 'approval_denied');
});
