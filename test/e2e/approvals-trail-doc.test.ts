/**
 * docs/approvals.md › The audit trail, end to end: a gateway configured with the page's rule, the
 * official `openai` SDK held, approved through the `gatehouse` CLI and run; then the page's
 * `gatehouse audit events --target` command shows the whole trail (created, voted, approved, used)
 * with who and why. A denied request reaches the SDK as a PermissionDeniedError carrying the code,
 * the permission_error type, the approval id and the command to read it, and is in the trail too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import OpenAI from 'openai';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { describe as explain, makeShims, runBash, shellEnv, substitute } from '../docs/support/shell.ts';

const RUNNER = '../e2e/approvals-trail-doc.test.ts';
const BLOCK = 'docs/approvals.md › The audit trail › 1';
const PLACEHOLDER_ID = 'apr_0190c0ffee';

let t: TestGateway;
let shims: string;
let olive: Person;
let agentToken: string;
let agentTokenId: string;

before(async () => {
  t = await startTestGateway({ policyYaml: docBlock('docs/approvals.md › The rule › 1').text });
  shims = await makeShims();
  olive = await personWithToken(t.gateway.store, 'olive', ['oncall']);
  agentToken = await t.token({ user: 'ada' });
  const listed = (await t.api('GET', '/tokens')).json;
  agentTokenId = (listed.tokens as any[]).find((tk) => tk.principal === 'ada')!.id;
});
after(async () => {
  await t?.close();
  await t?.demo.close().catch(() => undefined);
  if (shims) await rm(shims, { recursive: true, force: true });
});

test('this file runs exactly the blocks the manifest assigns it', () => {
  assert.deepEqual(assignedTo(RUNNER), [BLOCK]);
});

const sdk = () => new OpenAI({ baseURL: `${t.url}/proxy/openai/v1`, apiKey: agentToken, maxRetries: 0 });

async function pendingWith(text: string): Promise<string> {
  let id: string | undefined;
  await pollUntil(async () => {
    id = ((await t.api('GET', '/approvals?status=pending')).json.approvals as any[]).find((a) => String(a.summary.prompt).includes(text))?.id;
    return id !== undefined;
  }, `a pending approval for "${text}"`);
  return id!;
}

const shell = (script: string, token: string) => runBash(`set -eo pipefail\n${script}`, { cwd: shims, env: shellEnv(shims, { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: token }) });

test('held, approved with the CLI, run: the page\'s command shows the whole trail with who and why', async () => {
  const call = sdk().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'delete the staging bucket, ticket 77' }] });
  call.catch(() => undefined);
  const id = await pendingWith('ticket 77');
  const approved = await shell(`gatehouse approvals approve ${id} --comment "cleanup ticket 77"`, olive.token);
  assert.equal(approved.code, 0, explain('approve', approved));
  const reply = await call;
  assert.ok(reply.choices[0]?.message.content, 'the model answered');

  const command = substitute(docBlock(BLOCK).text, [[PLACEHOLDER_ID, id]]);
  const human = await shell(command, ADMIN_TOKEN);
  assert.equal(human.code, 0, explain(command, human));
  const order = ['approval.created', 'approval.voted', 'approval.approved', 'approval.used'];
  // Newest first: the actions appear in the reverse of their order.
  const positions = order.map((action) => human.stdout.indexOf(action));
  assert.ok(positions.every((p) => p >= 0), explain(command, human));
  assert.deepEqual([...positions].sort((a, b) => b - a), positions, 'newest first');

  const json = await shell(`${command.trim()} --json`, ADMIN_TOKEN);
  const events = (JSON.parse(json.stdout) as any[]).reverse();
  assert.deepEqual(events.map((e) => `${e.action} ${e.actorName} ${e.outcome}`), [
    'approval.created ada 200',
    // The API call itself, as every admin action is recorded (written ahead of the vote).
    'approveApproval olive 200',
    'approval.voted olive 200',
    'approval.approved olive 200',
    'approval.used ada 200',
  ]);
  const [created, , voted, , used] = events;
  assert.equal(created.details.rule, 'hold-destructive-prompts');
  assert.equal(created.details.connection, 'openai');
  assert.equal(voted.details.comment, 'cleanup ticket 77');
  assert.equal(voted.credentialId, olive.tokenId);
  assert.equal(used.details.interaction, created.details.interaction, 'the request that asked is the one that ran');
  assert.equal(used.credentialId, agentTokenId);
  assert.equal(created.credentialId, agentTokenId);
  // The interaction it names is the recorded request that ran under the approval.
  const sessions = (await t.api('GET', '/sessions?limit=50')).json;
  const found = await Promise.all(((sessions.sessions ?? []) as any[]).map(async (s) => (await t.api('GET', `/sessions/${s.id}`)).json));
  const ran = found.flatMap((s: any) => s.interactions ?? []).find((i: any) => i.id === used.details.interaction);
  assert.ok(ran, 'the interaction is recorded');
  assert.equal(ran.decision, 'approve');
});

test('denied: the SDK raises PermissionDeniedError with the code, the type, the id and the command; the trail has the reason', async () => {
  const call = sdk().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'delete the prod bucket, ticket 78' }] });
  const refusal = call.then(
    () => assert.fail('the call ran'),
    (err: unknown) => err,
  );
  const id = await pendingWith('ticket 78');
  const denied = await shell(`gatehouse approvals deny ${id} --reason "prod is frozen"`, olive.token);
  assert.equal(denied.code, 0, explain('deny', denied));
  const err = await refusal;
  assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
  assert.equal(err.status, 403);
  assert.equal(err.code, 'approval_denied');
  assert.equal(err.type, 'permission_error');
  assert.ok(err.message.includes(id), err.message);
  assert.deepEqual((err.error as any).gatehouse, { rule: 'hold-destructive-prompts', approvalId: id, show: `gatehouse approvals show ${id}` });

  const json = await shell(`gatehouse audit events --target ${id} --json`, ADMIN_TOKEN);
  const events = (JSON.parse(json.stdout) as any[]).reverse();
  assert.deepEqual(events.map((e) => e.action), ['approval.created', 'denyApproval', 'approval.voted', 'approval.denied']);
  assert.equal(events[3].details.reason, 'prod is frozen');
  assert.equal(events[3].actorName, 'olive');
});
