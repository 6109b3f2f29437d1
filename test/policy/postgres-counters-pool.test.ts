/**
 * The limit counters on a pool they share with the store: how many of its connections they take
 * while checks wait on another replica's lock, and what a statement the client gave up on leaves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { GatewayError } from '../../src/errors.ts';
import { windowStart, type SharedLimitCounters } from '../../src/policy/counters.ts';
import { createPostgresCounters, type PostgresCountersOptions } from '../../src/policy/postgres-counters.ts';
import { openStore } from '../../src/store/index.ts';
import { pollUntil } from '../support/poll.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';

let server: PostgresServer;
const closing: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await startPostgres();
  // The tables come from the store's migrations, as on a real deployment.
  await (await openStore({ databaseUrl: server.url })).close();
});

after(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
  await server?.stop();
});

/** A pool standing for the store's: its name tells its connections apart in pg_stat_activity. */
function sharedPool(name: string, max: number): pg.Pool {
  // The store's own statement limit: longer than the client waits for a limit check.
  const pool = new pg.Pool({ connectionString: server.url, max, application_name: name, statement_timeout: 15_000, query_timeout: 20_000 });
  closing.push(() => pool.end());
  return pool;
}

function counters(pool: pg.Pool, options: Partial<PostgresCountersOptions> = {}): SharedLimitCounters {
  const opened = createPostgresCounters({ pool, flushEveryMs: 60_000, renewEveryMs: 60_000, ...options });
  closing.push(() => opened.close());
  return opened;
}

/** Another replica's transaction, stalled while it holds a lock; `end` lets it go. */
async function otherReplica(lock: (client: pg.Client) => Promise<unknown>): Promise<{ end: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: server.url, application_name: 'other-replica' });
  await client.connect();
  closing.push(() => client.end());
  await client.query('BEGIN');
  await lock(client);
  return {
    end: async () => {
      await client.query('COMMIT');
    },
  };
}

async function backends(name: string, where: string): Promise<number> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND ${where}`, [name]);
    return rows[0].n as number;
  } finally {
    await client.end();
  }
}
const waitingOnLocks = (name: string) => backends(name, "wait_event_type = 'Lock'");
const stillRunning = (name: string) => backends(name, "state = 'active'");

const answered = (work: Promise<unknown>) =>
  work.then(
    () => 'check',
    () => 'check',
  );

describe("a burst of checks on a key another replica holds locked", () => {
  const cases = [
    { title: 'takes at most 4 of the shared pool by default', maxConnections: undefined, takes: 4 },
    { title: 'takes at most maxConnections of it', maxConnections: 2, takes: 2 },
    { title: 'takes one connection when maxConnections is 1', maxConnections: 1, takes: 1 },
    { title: 'takes one connection when maxConnections is 0', maxConnections: 0, takes: 1 },
    { title: 'takes one connection when maxConnections is a fraction above 1', maxConnections: 1.7, takes: 1 },
  ];
  cases.forEach(({ title, maxConnections, takes }, n) => {
    it(`${title}, leaves the rest to other work and lets the checks in in order`, async () => {
      const name = `burst-${n}`;
      const key = `sessions:burst-${n}`;
      // One connection more than the counters may take: the plain query below needs it.
      const pool = sharedPool(name, takes + 1);
      const limits = counters(pool, maxConnections === undefined ? {} : { maxConnections });
      const other = await otherReplica((c) => c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]));

      // One slot more than the checks let onto the lock: the check after them shows who went next.
      const burst = Array.from({ length: 10 }, (_, i) => limits.tryAcquire([{ key, max: takes + 1 }], `h${i}`));
      const firstAnswer = Promise.race(burst.map(answered));
      await pollUntil(async () => (await waitingOnLocks(name)) >= takes, 'checks waiting on the lock');
      const first = await Promise.race([pool.query('SELECT 1').then(() => 'query'), firstAnswer]);
      assert.equal(first, 'query', 'the pool must serve other work while the checks wait');
      assert.equal(await waitingOnLocks(name), takes);

      await other.end();
      const full = Array.from({ length: 10 }, (_, i) => (i <= takes ? -1 : 0));
      assert.deepEqual(await Promise.all(burst), full);
    });
  });

  it('refuses a check queued longer than a connection may be waited for, without waiting on the database', async () => {
    const name = 'queued';
    const pool = sharedPool(name, 2);
    const limits = counters(pool, { maxConnections: 1 });
    const other = await otherReplica((c) => c.query("SELECT pg_advisory_xact_lock(hashtext('sessions:queued'))"));

    let firstDone = false;
    const first = limits.tryAcquire([{ key: 'sessions:queued', max: 1 }], 'first').finally(() => (firstDone = true));
    await pollUntil(async () => (await waitingOnLocks(name)) === 1, 'the first check waiting on the lock');
    // An unrelated key: only the permit the first check holds keeps this one waiting.
    await assert.rejects(limits.tryAcquire([{ key: 'sessions:elsewhere', max: 1 }], 'second'), (err: GatewayError) => {
      assert.equal(err.code, 'store_unavailable');
      return true;
    });
    assert.equal(firstDone, false, 'the second check must give up before the first is answered');
    await other.end();
    assert.equal(await first, -1);
    // Its permit came back: the next check goes through.
    assert.equal(await limits.tryAcquire([{ key: 'sessions:elsewhere', max: 1 }], 'third'), -1);
  });
});

describe('a limited check the client gave up on', () => {
  it('leaves no charge stored once the other transaction lets the row go', async () => {
    const name = 'charge';
    const key = 'rate:charge';
    const now = windowStart(Date.now()) + 30_000;
    const limits = counters(sharedPool(name, 4), { statementTimeoutMs: 300 });
    // The row this charge would add to, inserted and not yet committed: the charge waits on it.
    const other = await otherReplica((c) =>
      c.query('INSERT INTO limit_windows (key, window_start, amount) VALUES ($1, $2, 0)', [key, windowStart(now)]),
    );
    await assert.rejects(limits.tryCharge([{ key, amount: 1, max: 10 }], now), (err: GatewayError) => err.code === 'store_unavailable');

    await other.end();
    // A statement left running on the server would add its amount once the row is free.
    await pollUntil(async () => (await stillRunning(name)) === 0, 'statements of the refused check');
    const rows = await readRows(key);
    assert.deepEqual(rows, [0]);
  });

  it("counts this replica's unwritten usage once, though writing it before the check was given up on", async () => {
    const name = 'unwritten';
    const key = 'rate:unwritten';
    const now = windowStart(Date.now()) + 30_000;
    const limits = counters(sharedPool(name, 4), { statementTimeoutMs: 300 });
    // Counted under no maximum: kept in memory until a check on the key writes it first.
    assert.equal(await limits.tryCharge([{ key, amount: 5, max: undefined }], now), null);
    const other = await otherReplica((c) =>
      c.query('INSERT INTO limit_windows (key, window_start, amount) VALUES ($1, $2, 0)', [key, windowStart(now)]),
    );
    await assert.rejects(limits.tryCharge([{ key, amount: 1, max: 10 }], now), (err: GatewayError) => err.code === 'store_unavailable');

    await other.end();
    await pollUntil(async () => (await stillRunning(name)) === 0, 'statements of the refused check');
    // The refused check kept the usage to send again; sent again, it counts once.
    assert.equal(await limits.windowTotal(key, now), 5);
    assert.deepEqual(await readRows(key), [5]);
  });
});

async function readRows(key: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT amount FROM limit_windows WHERE key = $1', [key]);
    return rows.map((r) => Number(r.amount));
  } finally {
    await client.end();
  }
}
