import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pollUntil } from '../support/poll.ts';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { GatewayError, LimitExceeded } from '../../src/errors.ts';
import type { SharedLimitCounters } from '../../src/policy/counters.ts';
import { createLimitTracker, type InspectableLimitTracker } from '../../src/policy/limits.ts';
import { windowStart } from '../../src/policy/counters.ts';
import { createPostgresCounters, type PostgresCountersOptions } from '../../src/policy/postgres-counters.ts';
import { openStore } from '../../src/store/index.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';

let server: PostgresServer;
const opened: SharedLimitCounters[] = [];

before(async () => {
  // pg_stat_statements counts what each database was sent, to show what a request costs there.
  server = await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
  await migrate(server.url);
  await admin('CREATE EXTENSION pg_stat_statements');
});

after(async () => {
  await Promise.allSettled(opened.map((c) => c.close()));
  await server?.stop();
});

/** The tables come from the store's migrations, as on a real deployment. */
async function migrate(url: string): Promise<void> {
  const store = await openStore({ databaseUrl: url });
  await store.close();
}

async function admin<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** A database of its own in the same server, so that only the replicas a test points at it talk to it. */
async function database(name: string): Promise<string> {
  await admin(`CREATE DATABASE ${name}`);
  return `postgres://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/${name}`;
}

/** Statements the server has run in one database so far (those starting with `prefix`, when given). */
async function statementsIn(name: string, prefix = ''): Promise<number> {
  const rows = await admin<{ n: number }>(
    `SELECT coalesce(sum(calls), 0)::int AS n FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = '${name}' AND starts_with(s.query, '${prefix}')`,
  );
  return rows[0]!.n;
}

function counters(options: Partial<PostgresCountersOptions> = {}): SharedLimitCounters {
  const opening = createPostgresCounters({ databaseUrl: server.url, ...options });
  opened.push(opening);
  return opening;
}

/** One "replica": its own counters and pool against the shared database. */
function replica(options: Partial<PostgresCountersOptions> = {}, now?: () => number): InspectableLimitTracker {
  return createLimitTracker({ counters: counters(options), ...(now ? { now } : {}) });
}

/** Mid-minute near the real time: the sliding estimate stays whole, and pruning (by real time) leaves the rows alone. */
const midMinute = () => windowStart(Date.now()) + 30_000;

async function settle<T>(work: Promise<T>): Promise<T | GatewayError> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

/** State another replica settles by its own flush or release: asked again a bounded number of times. */
function eventually(check: () => Promise<boolean>): Promise<void> {
  return pollUntil(check, 'replica state');
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('session slots across replicas', () => {
  it('lets exactly K of N parallel acquirers in, split over two replicas, and release frees them', async () => {
    const [a, b] = [replica(), replica()];
    const limits = { concurrentSessionsPerIdentity: 5 };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => settle((i % 2 === 0 ? a : b).acquireSession('alice', 'prod-db', limits))),
    );
    const releases = results.filter((r): r is () => void => typeof r === 'function');
    assert.equal(releases.length, 5);
    const refused = results.filter((r): r is LimitExceeded => r instanceof LimitExceeded);
    assert.equal(refused.length, 15);
    assert.ok(refused.every((err) => err.code === 'limit_exceeded' && err.limit === 'concurrentSessionsPerIdentity'));
    assert.equal(await a.sessions('identity', 'alice'), 5);
    assert.equal(await b.sessions('connection', 'prod-db'), 5);

    for (const release of releases) release();
    await eventually(async () => (await b.sessions('identity', 'alice')) === 0);
    const again = await b.acquireSession('alice', 'prod-db', limits);
    assert.equal(await a.sessions('identity', 'alice'), 1);
    again();
  });

  it('a refused acquire takes no slot under any key, and releasing twice frees one slot', async () => {
    const [a, b] = [replica(), replica()];
    await a.acquireSession('bob', 'db-2', {});
    // Taken under no maximum, the slot reaches the other replica with the next flush.
    await eventually(async () => (await b.sessions('connection', 'db-2')) === 1);
    await assert.rejects(b.acquireSession('carol', 'db-2', { concurrentSessionsPerConnection: 1 }), LimitExceeded);
    assert.equal(await a.sessions('identity', 'carol'), 0);

    const limits = { concurrentSessionsPerIdentity: 2 };
    const first = await a.acquireSession('dave', 'db-3', limits);
    await b.acquireSession('dave', 'db-3', limits);
    first();
    first();
    await eventually(async () => (await a.sessions('identity', 'dave')) === 1);
    await sleep(100);
    assert.equal(await b.sessions('identity', 'dave'), 1);
  });

  it('a replica that keeps renewing keeps its slots past the lease', async () => {
    const a = replica({ leaseMs: 600, renewEveryMs: 150 });
    const b = replica();
    const limits = { concurrentSessionsPerIdentity: 1 };
    await a.acquireSession('erin', 'db', limits);
    await sleep(1_200);
    await assert.rejects(b.acquireSession('erin', 'db', limits), LimitExceeded);
  });

  it('a replica that stops renewing loses its slots once the lease runs out', async () => {
    // Renewal far beyond the test's length stands for a replica that crashed after acquiring.
    const crashed = replica({ leaseMs: 600, renewEveryMs: 60_000 });
    const survivor = replica();
    const limits = { concurrentSessionsPerIdentity: 2 };
    await crashed.acquireSession('frank', 'db', limits);
    await crashed.acquireSession('frank', 'db', limits);
    await assert.rejects(survivor.acquireSession('frank', 'db', limits), LimitExceeded);
    await sleep(800);
    assert.equal(await survivor.sessions('identity', 'frank'), 0);
    await survivor.acquireSession('frank', 'db', limits);
    await survivor.acquireSession('frank', 'db', limits);
  });
});

describe('rates across replicas', () => {
  it('counts requests per minute once for both replicas', async () => {
    let now = 2_000 * 60_000;
    const clock = () => now;
    const [a, b] = [replica({}, clock), replica({}, clock)];
    const limits = { requestsPerMinute: 4 };
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => settle((i % 2 === 0 ? a : b).consume('grace', limits, 0))));
    assert.equal(results.filter((r) => r === undefined).length, 4);
    const refused = results.filter((r): r is LimitExceeded => r instanceof LimitExceeded);
    assert.equal(refused.length, 6);
    assert.ok(refused.every((err) => err.limit === 'requestsPerMinute' && err.retryAfterSeconds === 75));
    assert.deepEqual(await b.usage('grace'), { requests: 4, tokens: 0 });

    // Sliding minute, as in memory: one more fits once a quarter of that minute has slid out of view.
    now += 74_000;
    await assert.rejects(a.consume('grace', limits, 0), LimitExceeded);
    now += 1_000;
    await b.consume('grace', limits, 0);
  });

  it('limits tokens per minute across replicas, all or nothing', async () => {
    const now = 3_000 * 60_000;
    const [a, b] = [replica({}, () => now), replica({}, () => now)];
    const limits = { requestsPerMinute: 100, llmTokensPerMinute: 1000 };
    await a.consume('heidi', limits, 600);
    await assert.rejects(
      b.consume('heidi', limits, 600),
      (err: LimitExceeded) => err.limit === 'llmTokensPerMinute' && (err.retryAfterSeconds ?? 0) > 0,
    );
    // The refused request counted neither its tokens nor itself.
    assert.deepEqual(await a.usage('heidi'), { requests: 1, tokens: 600 });
    await b.consume('heidi', limits, 400);
    await assert.rejects(
      a.consume('heidi', { llmTokensPerMinute: 1000 }, 5000),
      (err: LimitExceeded) => err.limit === 'llmTokensPerMinute' && err.retryAfterSeconds === undefined,
    );
    assert.deepEqual(await b.usage('heidi'), { requests: 2, tokens: 1000 });
  });
});

describe('counting under no maximum', () => {
  it('sends no statement per request; close() writes the sums in one transaction', async () => {
    const url = await database('quiet');
    await migrate(url);
    const now = midMinute();
    const quiet = counters({ databaseUrl: url, flushEveryMs: 60_000, renewEveryMs: 60_000 });
    const tracker = createLimitTracker({ counters: quiet, now: () => now });
    const before = await statementsIn('quiet');
    const writesBefore = await statementsIn('quiet', 'INSERT');
    for (let i = 0; i < 50; i++) {
      await tracker.consume('olga', {}, 10);
      const release = await tracker.acquireSession('olga', 'db', {});
      // Ten sessions stay open; the others end before any flush, so they never need a row.
      if (i >= 10) release();
    }
    assert.equal(await statementsIn('quiet'), before);

    await quiet.close();
    assert.equal(await statementsIn('quiet', 'INSERT'), writesBefore + 1);
    // BEGIN, SET LOCAL statement_timeout, the write, COMMIT.
    assert.equal(await statementsIn('quiet'), before + 4);
    const other = replica({ databaseUrl: url }, () => now);
    assert.deepEqual(await other.usage('olga'), { requests: 50, tokens: 500 });
    assert.equal(await other.sessions('identity', 'olga'), 0);
  });

  it("another replica sees usage after the next flush, and its limits count it", async () => {
    const now = midMinute();
    const [a, b] = [replica({ flushEveryMs: 100 }, () => now), replica({}, () => now)];
    for (let i = 0; i < 3; i++) await a.consume('pia', {}, 7);
    await eventually(async () => (await b.usage('pia')).requests === 3);
    assert.deepEqual(await b.usage('pia'), { requests: 3, tokens: 21 });
    await assert.rejects(b.consume('pia', { requestsPerMinute: 3 }, 0), (err: LimitExceeded) => err.limit === 'requestsPerMinute');
  });

  it("a limited charge counts its own replica's unwritten usage, and writes it", async () => {
    const now = midMinute();
    const a = replica({ flushEveryMs: 60_000 }, () => now);
    const b = replica({ flushEveryMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) await a.consume('quentin', {}, 300);
    await a.consume('quentin', { requestsPerMinute: 4 }, 0);
    await assert.rejects(a.consume('quentin', { requestsPerMinute: 4 }, 0), (err: LimitExceeded) => err.limit === 'requestsPerMinute');
    await assert.rejects(
      a.consume('quentin', { llmTokensPerMinute: 1000 }, 200),
      (err: LimitExceeded) => err.limit === 'llmTokensPerMinute' && (err.retryAfterSeconds ?? 0) > 0,
    );
    // Each check wrote the unwritten usage under the keys it limits; refused requests added nothing.
    assert.deepEqual(await b.usage('quentin'), { requests: 4, tokens: 900 });
  });

  it('parallel limited checks on both replicas count every unwritten or unpublished count exactly once', async () => {
    const now = midMinute();
    const [a, b] = [replica({ flushEveryMs: 100 }, () => now), replica({ flushEveryMs: 60_000 }, () => now)];
    for (let i = 0; i < 3; i++) await a.consume('tess', {}, 0);
    for (let i = 0; i < 2; i++) await b.consume('tess', {}, 0);
    for (let i = 0; i < 2; i++) await a.acquireSession('tess', 'db', {});
    await eventually(async () => (await b.sessions('identity', 'tess')) === 2);
    // The flush that published a's slots writes its usage beside them, not necessarily first; an
    // observer with nothing unwritten tells when it has landed, leaving b's usage unwritten.
    const observed = counters();
    const observer = createLimitTracker({ counters: observed, now: () => now });
    await eventually(async () => (await observer.usage('tess')).requests === 3);
    // Closed at once: the server's connections are few, and this file's replicas hold theirs until the end.
    await observed.close();

    const rates = await Promise.all(Array.from({ length: 10 }, (_, i) => settle((i % 2 === 0 ? a : b).consume('tess', { requestsPerMinute: 8 }, 0))));
    assert.equal(rates.filter((r) => r === undefined).length, 3);
    const slots = await Promise.all(
      Array.from({ length: 10 }, (_, i) => settle((i % 2 === 0 ? a : b).acquireSession('tess', 'db', { concurrentSessionsPerIdentity: 5 }))),
    );
    assert.equal(slots.filter((r) => typeof r === 'function').length, 3);
  });

  it("sessions: counted at once by their replica's limits, by other replicas' after the next flush, freed on release", async () => {
    const [a, b] = [replica({ flushEveryMs: 100 }), replica()];
    const limits = { concurrentSessionsPerIdentity: 2 };
    const first = await a.acquireSession('rita', 'db', {});
    await a.acquireSession('rita', 'db', {});
    await assert.rejects(a.acquireSession('rita', 'db', limits), (err: LimitExceeded) => err.limit === 'concurrentSessionsPerIdentity');
    await eventually(async () => (await b.sessions('identity', 'rita')) === 2);
    await assert.rejects(b.acquireSession('rita', 'db', limits), (err: LimitExceeded) => err.limit === 'concurrentSessionsPerIdentity');

    first();
    assert.equal(await a.sessions('identity', 'rita'), 1);
    await eventually(async () => (await b.sessions('identity', 'rita')) === 1);
    const third = await b.acquireSession('rita', 'db', limits);
    await assert.rejects(a.acquireSession('rita', 'db', limits), LimitExceeded);
    third();
  });

  it('a failed background write is reported and retried, losing nothing', async () => {
    // A database the migrations have not reached yet: every write fails until they have.
    const url = await database('late');
    const now = midMinute();
    const failures: Array<{ err: GatewayError; what: string }> = [];
    const a = replica({ databaseUrl: url, flushEveryMs: 50, onError: (err, what) => failures.push({ err: err as GatewayError, what }) }, () => now);
    await a.consume('sam', {}, 5);
    await a.consume('sam', {}, 5);
    await eventually(async () => failures.length > 0);
    assert.equal(failures[0]!.what, 'writing usage');
    assert.equal(failures[0]!.err.code, 'store_unavailable');

    await migrate(url);
    const b = replica({ databaseUrl: url }, () => now);
    await eventually(async () => (await b.usage('sam')).requests === 2);
    assert.deepEqual(await b.usage('sam'), { requests: 2, tokens: 10 });
  });
});

describe('when PostgreSQL cannot be reached', () => {
  it('refuses whatever a limit applies to with store_unavailable; the rest goes on, its failed writes reported', async () => {
    const url = `postgres://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${await closedPort()}/${server.database}`;
    const failures: GatewayError[] = [];
    const tracker = createLimitTracker({ counters: counters({ databaseUrl: url, flushEveryMs: 50, onError: (err) => failures.push(err as GatewayError) }) });
    const unavailable = (err: GatewayError) => {
      assert.equal(err.code, 'store_unavailable');
      assert.ok(!err.message.includes(server.password), 'the password must not leak into the message');
      return true;
    };
    await assert.rejects(tracker.consume('ivan', { requestsPerMinute: 1000 }, 0), unavailable);
    await assert.rejects(tracker.consume('ivan', { llmTokensPerMinute: 1000 }, 10), unavailable);
    await assert.rejects(tracker.acquireSession('ivan', 'db', { concurrentSessionsPerConnection: 10 }), unavailable);

    // No limit applies, so there is nothing to refuse; writing the counts fails in the background.
    await tracker.consume('ivan', {}, 10);
    await tracker.acquireSession('ivan', 'db', {});
    await eventually(async () => failures.length >= 2);
    assert.ok(failures.every(unavailable));
  });
});
