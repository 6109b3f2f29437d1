/**
 * Just-in-time access across two `gatehouse start` processes on one PostgreSQL, as a deployment
 * runs them: asked on one replica, approved on the other, a stream served by the first under the
 * grant is cut when the grant is revoked through the second, and the next call there is denied.
 * The store sweeps that could end it otherwise wait an hour: only the event can.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startReplica, type ReplicaProcess } from '../support/replica-process.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

const UPSTREAM_KEY = `sk-upstream-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = `gta_${randomBytes(24).toString('hex')}`;
const MASTER_KEY = randomBytes(32).toString('hex');

let server: PostgresServer;
let demo: DemoModel;
let dir: string;
let store: Store;
const replicas: ReplicaProcess[] = [];

async function call(r: ReplicaProcess, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${r.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

const chat = (r: ReplicaProcess, token: string, stream: boolean, content: string) =>
  fetch(`${r.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: stream ? 'demo-hold' : 'demo', stream, messages: [{ role: 'user', content }] }),
  });

before(async () => {
  server = await startPostgres();
  demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-access-replicas-'));
  const configFile = join(dir, 'gatehouse.yaml');
  await writeFile(
    configFile,
    `http:
  listen: 127.0.0.1:0
  upstreamTimeout: 30s
log:
  level: warn
replicas:
  heartbeat: 1s
  goneAfter: 3s
  eventPoll: 1s
  revocationSweep: 1h
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
identity:
  roles:
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [openai]
approvals:
  access:
    approvers: [oncall]
policy:
  rules:
    - name: needs-a-grant
      when: "size(grants) == 0"
      action: deny
      reason: ask for access first
    - name: allow-with-a-grant
      action: allow
`,
  );
  const env = { ...process.env, UPSTREAM_KEY, GATEHOUSE_DATABASE_URL: server.url, GATEHOUSE_MASTER_KEY: MASTER_KEY, GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN };
  replicas.push(await startReplica(configFile, env));
  replicas.push(await startReplica(configFile, env));
  store = await openStore({ databaseUrl: server.url });
});

after(async () => {
  demo?.releaseHeld();
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
  await store?.close();
  await demo?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('just-in-time access across two gateway processes', () => {
  let ada: Person;
  let bob: Person;

  before(async () => {
    [ada, bob] = await Promise.all([personWithToken(store, 'ada', ['engineering']), personWithToken(store, 'bob', ['oncall'])]);
  });

  test('asked on one, approved and revoked on the other: the stream the first serves under the grant is cut, and the next call is denied', async () => {
    const [a, b] = replicas as [ReplicaProcess, ReplicaProcess];
    const issued = await call(a, 'POST', '/tokens', ADMIN_TOKEN, { connections: ['openai'], for: { user: 'ada', groups: [] } });
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    const agent = issued.json.token as string;
    assert.equal((await chat(a, agent, false, 'before')).status, 403);

    const asked = await call(a, 'POST', '/access/requests', ada.token, { connection: 'openai', for: '1h', reason: 'incident across replicas' });
    assert.equal(asked.status, 201, JSON.stringify(asked.json));
    const approved = await call(b, 'POST', `/approvals/${asked.json.id}/approve`, bob.token, {});
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    const grantId = (await call(a, 'GET', `/access/requests/${asked.json.id}`, ada.token)).json.grant.id as string;

    const response = await chat(a, agent, true, 'held under the grant');
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    await reader.read();
    const cut = (async () => {
      try {
        for (;;) if ((await reader.read()).done) return 'ended';
      } catch {
        return 'failed';
      }
    })();
    const revoked = await call(b, 'POST', `/access/grants/${grantId}/revoke`, bob.token, { reason: 'closed on the other replica' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    assert.equal(await cut, 'failed', 'the stream was cut, not finished');
    const after = await chat(a, agent, false, 'after');
    assert.equal(after.status, 403);
    assert.equal(((await after.json()) as any).error.code, 'policy_denied');
  });
});
