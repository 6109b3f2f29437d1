/**
 * Several gateway processes on one real PostgreSQL, as a deployment behind a load balancer runs
 * them: limits, revocations and connections hold across replicas, a start leaves the others'
 * work alone, and a replica killed under load loses no record.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startReplica, type ReplicaProcess } from '../support/replica-process.ts';
import { pollUntil } from '../support/poll.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { openStore } from '../../src/store/index.ts';
import { verifyChain } from '../../src/audit/hash-chain.ts';
import { SESSION_LEFT_OPEN } from '../../src/server.ts';

const UPSTREAM_KEY = `sk-upstream-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = `gta_${randomBytes(24).toString('hex')}`;
const LIMIT = 3;

let server: PostgresServer;
let demo: DemoModel;
let dir: string;
let configFile: string;
let db: pg.Pool;
const replicas: ReplicaProcess[] = [];

function env(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    UPSTREAM_KEY,
    GATEHOUSE_DATABASE_URL: server.url,
    GATEHOUSE_MASTER_KEY: randomBytesHex,
    GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN,
  };
}
const randomBytesHex = randomBytes(32).toString('hex');

async function replica(): Promise<ReplicaProcess> {
  const started = await startReplica(configFile, env());
  replicas.push(started);
  return started;
}

async function api(r: ReplicaProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${r.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

async function issue(r: ReplicaProcess, user: string, groups: string[] = [], connections = ['openai']): Promise<{ id: string; token: string }> {
  const { status, json } = await api(r, 'POST', '/tokens', { connections, for: { user, groups } });
  assert.equal(status, 201, JSON.stringify(json));
  return { id: json.id, token: json.token };
}

function chat(r: ReplicaProcess, token: string, model: string, content: string, stream = false, connection = 'openai'): Promise<Response> {
  return fetch(`${r.url}/proxy/${connection}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content }] }),
  });
}

/** A held stream, admitted and under way: the first chunk has arrived. */
async function heldStream(r: ReplicaProcess, token: string, marker: string) {
  const response = await chat(r, token, 'demo-hold', marker, true);
  if (response.status !== 200) return { response, reader: null };
  const reader = response.body!.getReader();
  await reader.read();
  return { response, reader };
}

/** Reads a stream to its end; resolves 'ended' or 'failed' (the gateway cut it). */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ how: 'ended' | 'failed'; text: string }> {
  let text = '';
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { how: 'ended', text };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { how: 'failed', text };
  }
}

before(async () => {
  server = await startPostgres();
  demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-replicas-'));
  configFile = join(dir, 'gatehouse.yaml');
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
  # Only the event may end a revoked session here: the store sweep, its fallback, waits an hour.
  revocationSweep: 1h
shutdown:
  drainTimeout: 10s
connections:
  - name: openai
    type: openai
    upstream: ${demo.url}
    credential: \${UPSTREAM_KEY}
policy:
  rules:
    - name: limited
      match: { groups: [limited] }
      action: allow
      limits: { concurrentSessionsPerIdentity: ${LIMIT} }
    - name: allow-all
      action: allow
`,
  );
  db = new pg.Pool({ connectionString: server.url, max: 2 });
});

after(async () => {
  demo?.releaseHeld();
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
  await db?.end();
  await demo?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two gateway processes on one PostgreSQL', () => {
  let a: ReplicaProcess;
  let b: ReplicaProcess;

  before(async () => {
    a = await replica();
    b = await replica();
  });

  test(`a limit of ${LIMIT} concurrent requests across both replicas admits exactly ${LIMIT}`, async () => {
    const { token } = await issue(a, 'limited-user', ['limited']);
    const admitted: Awaited<ReturnType<typeof heldStream>>[] = [];
    const refused: number[] = [];
    for (let i = 0; i < LIMIT * 2 + 1; i++) {
      const held = await heldStream(i % 2 === 0 ? a : b, token, `limit-${i}`);
      if (held.reader) admitted.push(held);
      else {
        refused.push(held.response.status);
        await held.response.text();
      }
    }
    assert.equal(admitted.length, LIMIT, 'exactly the limit is admitted, whichever replica took each');
    assert.deepEqual(refused, Array(LIMIT + 1).fill(429));
    demo.releaseHeld();
    for (const held of admitted) assert.equal((await drain(held.reader!)).how, 'ended');
  });

  test('a revocation on one replica ends a stream the other is serving and refuses the token there', async () => {
    const { id, token } = await issue(a, 'revoked-user');
    const held = await heldStream(b, token, 'revocation');
    assert.ok(held.reader, `the stream was admitted (${held.response.status})`);
    const ending = drain(held.reader);
    const revoked = await api(a, 'DELETE', `/tokens/${id}`);
    assert.equal(revoked.status, 200);
    // The stream ends because replica b heard the event: nothing else would end a held stream.
    const end = await ending;
    assert.ok(!end.text.includes('[DONE]'), 'the stream was cut, not finished');
    const after = await chat(b, token, 'demo', 'after revocation');
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as any).error.code, 'auth_revoked');
  });

  test('a connection added through one replica is usable through the other', async () => {
    const put = await api(a, 'PUT', '/connections/added-later', { type: 'openai', upstream: demo.url, credential: UPSTREAM_KEY, tags: [] });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    await pollUntil(async () => (await api(b, 'GET', '/connections/added-later')).status === 200, 'replica b to hear of the connection', 400, 25);
    const { token } = await issue(b, 'added-user', [], ['added-later']);
    const response = await chat(b, token, 'demo', 'through the new connection', false, 'added-later');
    assert.equal(response.status, 200);
    await response.text();

    assert.equal((await api(a, 'DELETE', '/connections/added-later')).status, 204);
    await pollUntil(async () => (await api(b, 'GET', '/connections/added-later')).status === 404, 'replica b to hear of the removal', 400, 25);
  });

  test('starting another replica leaves a request under way on this one alone', async () => {
    const { token } = await issue(a, 'steady-user');
    const held = await heldStream(b, token, 'under-way-during-start');
    assert.ok(held.reader);
    const c = await replica();
    demo.releaseHeld();
    const end = await drain(held.reader);
    assert.equal(end.how, 'ended');
    assert.ok(end.text.includes('[DONE]'), 'the stream finished normally');
    const { rows } = await db.query(
      "SELECT i.status, s.ended_at, s.end_reason FROM interactions i JOIN sessions s ON s.id = i.session_id WHERE i.request_body LIKE '%under-way-during-start%'",
    );
    assert.equal(rows.length, 1);
    await pollUntil(async () => (await db.query("SELECT status FROM interactions WHERE request_body LIKE '%under-way-during-start%'")).rows[0].status !== 'open', 'the record to complete');
    const [row] = (await db.query("SELECT i.status, s.end_reason FROM interactions i JOIN sessions s ON s.id = i.session_id WHERE i.request_body LIKE '%under-way-during-start%'")).rows;
    assert.equal(row.status, 'complete', 'not marked interrupted by the other replica\'s start');
    assert.notEqual(row.end_reason, SESSION_LEFT_OPEN);
    assert.equal(await c.stop('SIGTERM'), 0);
  });

  test('a replica killed with SIGKILL under load: every forwarded request has a record, the chains verify', async () => {
    const { token: tokenA } = await issue(a, 'load-user-a');
    const { token: tokenB } = await issue(b, 'load-user-b');
    const replicaA = ((await (await fetch(`${a.url}/readyz`)).json()) as { replica: string }).replica;
    assert.match(replicaA, /^rep_/);
    let stop = false;
    let sent = 0;
    const loop = async (r: ReplicaProcess, token: string, name: string) => {
      for (let i = 0; !stop; i++) {
        sent++;
        try {
          await (await chat(r, token, 'demo', `load-${name}-${i}`)).text();
        } catch {
          if (r === a) return; // the replica is gone
        }
      }
    };
    const loops = [loop(a, tokenA, 'a1'), loop(a, tokenA, 'a2'), loop(b, tokenB, 'b1'), loop(b, tokenB, 'b2')];
    await pollUntil(() => demo.requests.filter((r) => JSON.stringify(r.bodyJson ?? '').includes('load-a')).length >= 40, 'load to reach replica a', 400, 25);
    await a.stop('SIGKILL');
    await pollUntil(() => demo.requests.filter((r) => JSON.stringify(r.bodyJson ?? '').includes('load-b')).length >= 40, 'load on replica b', 400, 25);
    stop = true;
    await Promise.all(loops);
    assert.ok(sent > 80);

    // Replica b notices a's heartbeat stopped and closes a's work: no session of a stays open.
    await pollUntil(
      async () => Number((await db.query('SELECT count(*) AS n FROM sessions WHERE replica_id = $1 AND ended_at IS NULL', [replicaA])).rows[0].n) === 0,
      "replica b to close replica a's sessions",
      600,
      25,
    );
    const leftOpen = await db.query('SELECT end_reason FROM sessions WHERE replica_id = $1', [replicaA]);
    assert.ok(leftOpen.rows.some((r) => r.end_reason === SESSION_LEFT_OPEN));
    assert.equal(Number((await db.query("SELECT count(*) AS n FROM interactions i JOIN sessions s ON s.id = i.session_id WHERE s.replica_id = $1 AND i.status = 'open'", [replicaA])).rows[0].n), 0);

    const markers = demo.requests
      .map((r) => /load-[ab]\d-\d+/.exec(JSON.stringify(r.bodyJson ?? ''))?.[0])
      .filter((m): m is string => m !== undefined);
    assert.ok(markers.length > 80);
    const recorded = new Set(
      (await db.query("SELECT request_body FROM interactions WHERE request_body LIKE '%load-%'")).rows.map((r) => /load-[ab]\d-\d+/.exec(r.request_body)?.[0]),
    );
    const missing = markers.filter((m) => !recorded.has(m));
    assert.deepEqual(missing, [], 'every request the upstream received is on record');

    const store = await openStore({ databaseUrl: server.url });
    try {
      const sessions = (await db.query('SELECT id FROM sessions')).rows.map((r) => r.id as string);
      for (const id of sessions) {
        const report = verifyChain(await store.listInteractions(id));
        assert.ok(report.ok, `session ${id}: ${report.problems.join('; ')}`);
      }
    } finally {
      await store.close();
    }
  });
});
