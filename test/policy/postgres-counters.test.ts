import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { GatewayError, LimitExceeded } from '../../src/errors.ts';
import type { SharedLimitCounters } from '../../src/policy/counters.ts';
import { createLimitTracker, type InspectableLimitTracker } from '../../src/policy/limits.ts';
import { createPostgresCounters, type PostgresCountersOptions } from '../../src/policy/postgres-counters.ts';
import { openStore } from '../../src/store/index.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';

let server: PostgresServer;
const opened: SharedLimitCounters[] = [];

before(async () => {
  server = await startPostgres();
  // The tables come from the store's migrations, as on a real deployment.
  const store = await openStore({ databaseUrl: server.url });
  await store.close();
});

after(async () => {
  await Promise.allSettled(opened.map((c) => c.close()));
  await server?.stop();
});

/** One "replica": its own counters and pool against the shared database. */
function replica(options: Partial<PostgresCountersOptions> = {}, now?: () => number): InspectableLimitTracker {
  const counters = createPostgresCounters({ databaseUrl: server.url, ...options });
  opened.push(counters);
  return createLimitTracker({ counters, ...(now ? { now } : {}) });
}

async function settle<T>(work: Promise<T>): Promise<T | GatewayError> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

async function eventually(check: () => Promise<boolean>, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail('condition not met in time');
    await sleep(25);
  }
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

describe('when PostgreSQL cannot be reached', () => {
  it('refuses requests and sessions with store_unavailable, never lets them through', async () => {
    const url = `postgres://${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${await closedPort()}/${server.database}`;
    const counters = createPostgresCounters({ databaseUrl: url });
    opened.push(counters);
    const tracker = createLimitTracker({ counters });
    const unavailable = (err: GatewayError) => {
      assert.equal(err.code, 'store_unavailable');
      assert.ok(!err.message.includes(server.password), 'the password must not leak into the message');
      return true;
    };
    await assert.rejects(tracker.consume('ivan', { requestsPerMinute: 1000 }, 0), unavailable);
    await assert.rejects(tracker.consume('ivan', {}, 10), unavailable);
    await assert.rejects(tracker.acquireSession('ivan', 'db', {}), unavailable);
  });
});
