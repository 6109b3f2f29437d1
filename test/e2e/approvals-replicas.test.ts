/**
 * Two gateways on one PostgreSQL store: a request held on one is approved through the other and
 * released by the coordination event (the holding gateway's own wake-ups are never fired, so only
 * the event can release it). The same holds for a denial.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { ManualTime } from '../approvals/manual-time.ts';
import { APPROVALS_POLICY, APPROVALS_YAML } from '../approvals/fixtures.ts';

describe('approvals across two gateways on one PostgreSQL', () => {
  let server: PostgresServer;
  let demo: DemoModel;
  let a: TestGateway;
  let b: TestGateway;
  let bob: Person;
  let cliHome: string;
  const quiet = new ManualTime(Date.now());

  before(async () => {
    server = await startPostgres();
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY, slowMs: 3000 });
    cliHome = await mkdtemp(join(tmpdir(), 'gatehouse-approvals-cli-'));
    const shared = { databaseUrl: server.url, policyYaml: APPROVALS_POLICY, extraYaml: APPROVALS_YAML, demo, masterKey: randomBytes(32) };
    // a's wake-ups are never fired: what releases a request held there is the event b publishes.
    a = await startTestGateway({ ...shared, approvals: { now: Date.now, timers: quiet } });
    b = await startTestGateway(shared);
    bob = await personWithToken(a.gateway.store, 'bob', ['oncall']);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await demo?.close();
    await server?.stop();
    await rm(cliHome, { recursive: true, force: true });
  });

  const cli = (url: string, token: string, ...args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, GATEHOUSE_URL: url, GATEHOUSE_TOKEN: token, XDG_CONFIG_HOME: cliHome } }, (err, _out, stderr) =>
        resolve({ code: err ? 1 : 0, stderr }),
      ),
    );

  async function pendingWith(g: TestGateway, marker: string): Promise<string> {
    let id: string | undefined;
    await pollUntil(async () => {
      id = ((await g.api('GET', '/approvals?status=pending')).json.approvals as any[]).find((x) => String(x.summary.prompt).includes(marker))?.id;
      return id !== undefined;
    }, `a pending approval for ${marker}`);
    return id!;
  }

  test('held on one gateway, approved through the other: the call completes, and the approval is used once', async () => {
    const token = await a.token({ user: 'ada', groups: ['engineering'] });
    const client = new OpenAI({ baseURL: `${a.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
    const call = client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'scale down [replica-approve]' }] });
    call.catch(() => undefined);
    const id = await pendingWith(b, 'replica-approve');
    const approved = await cli(b.url, bob.token, 'approvals', 'approve', id);
    assert.equal(approved.code, 0, approved.stderr);
    assert.ok((await call).choices[0]!.message.content);
    assert.equal((await b.api('GET', `/approvals/${id}`)).json.status, 'used');
  });

  test('held on one gateway, denied through the other: the call fails with approval_denied', async () => {
    const token = await a.token({ user: 'ada' });
    const client = new OpenAI({ baseURL: `${a.url}/proxy/openai/v1`, apiKey: token, maxRetries: 0 });
    const call = client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'delete backups [replica-deny]' }] });
    call.catch(() => undefined);
    const id = await pendingWith(b, 'replica-deny');
    assert.equal((await cli(b.url, bob.token, 'approvals', 'deny', id, '--reason', 'no')).code, 0);
    await assert.rejects(call, (err: unknown) => err instanceof OpenAI.APIError && err.code === 'approval_denied');
  });
});
