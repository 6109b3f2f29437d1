/**
 * Limit counters in PostgreSQL, so that every replica counts against the same numbers.
 * Rates: one row per key and fixed minute, grown by a conditional upsert that only succeeds while
 * the sliding estimate stays within the maximum, so the row lock decides races. Sessions: one
 * lease row per slot, inserted under a per-key advisory lock after counting the unexpired ones;
 * each replica renews its leases, so a replica that dies frees its slots when they expire.
 *
 * Counting under no maximum (most requests) never waits on the database: it is summed in memory
 * and written in the background every `flushEveryMs`, amounts as one multi-row upsert, session
 * slots as lease rows. Other replicas therefore see such counts up to about a second late. This
 * replica never does: a check under a maximum first writes this replica's unwritten amounts for
 * its keys, and counts this replica's own slots from memory, not from the rows it has published.
 *
 * On the store's shared pool the counters take at most `maxConnections` of its connections, so that
 * checks queued on one key's lock leave the rest to the store. Every write whose outcome someone is
 * told runs in a transaction whose statements the server cancels before the client gives up on them.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { storeFailure } from '../util/store-failure.ts';
import {
  EPSILON,
  WINDOW_MS,
  estimate,
  waitUntilFits,
  windowStart,
  type CounterCharge,
  type SharedLimitCounters,
  type Window,
} from './counters.ts';
import { UnwrittenAmounts, type WindowAmount } from './unwritten-amounts.ts';

export interface PostgresCountersOptions {
  /** The replica's store pool, shared so a replica holds one pool; left open on close. */
  readonly pool?: pg.Pool;
  /** Without `pool`: the counters open (and close) a pool of their own on this database. */
  readonly databaseUrl?: string;
  /** Texts cut out of every error message (the database password). */
  readonly secrets?: readonly string[];
  /** How long a slot outlives its replica's last renewal (default 30 s). */
  readonly leaseMs?: number;
  /** How often leases are renewed (default a third of the lease). */
  readonly renewEveryMs?: number;
  /** How often counts taken under no maximum are written for other replicas to see (default 1 s). */
  readonly flushEveryMs?: number;
  /**
   * Connections the counters use at once (default 4): the size of their own pool, or how much of a
   * shared one they may take, so that checks waiting on a lock never starve the store's writes.
   */
  readonly maxConnections?: number;
  /** How long the server lets one of the counters' statements run (default 5 s); the client waits 1 s longer. */
  readonly statementTimeoutMs?: number;
  /** Failures nobody awaits (flushes, renewal, release, pruning); the next awaited call reports its own. */
  readonly onError?: (err: Error, what: string) => void;
}

// A limit check holds up a request: waiting for a connection (of either pool) is bounded too.
const CONNECT_TIMEOUT_MS = 3_000;

// The database's clock, not the replica's, decides when a lease has expired: replicas' clocks may differ.
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

// Locks taken in hash order, so two acquirers of overlapping keys never wait on each other in a cycle.
const LOCK_KEYS = `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`;
// Other replicas' slots only ($2 is this replica's holder prefix): this replica counts its own in memory.
const COUNT_OTHERS = `SELECT key, count(*)::int AS n FROM limit_leases
  WHERE key = ANY($1::text[]) AND NOT starts_with(holder_id, $2) AND expires_at > ${DB_NOW_MS} GROUP BY key`;
const INSERT_LEASES = `INSERT INTO limit_leases (key, holder_id, expires_at) SELECT k, $2, ${DB_NOW_MS} + $3 FROM unnest($1::text[]) AS k`;
// Idempotent, so a batch whose outcome was lost can be sent again.
const PUBLISH_LEASES = `INSERT INTO limit_leases (key, holder_id, expires_at)
  SELECT k, h, ${DB_NOW_MS} + $3 FROM unnest($1::text[], $2::text[]) AS t(k, h)
  ON CONFLICT (key, holder_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`;
const RENEW_LEASES = `UPDATE limit_leases SET expires_at = ${DB_NOW_MS} + $2 WHERE holder_id = ANY($1::text[])`;
const DELETE_LEASES = 'DELETE FROM limit_leases WHERE holder_id = ANY($1::text[])';
const PRUNE_LEASES = `DELETE FROM limit_leases WHERE expires_at <= ${DB_NOW_MS}`;
const PRUNE_WINDOWS = 'DELETE FROM limit_windows WHERE window_start < $1';
const HELD_OTHERS = `SELECT count(*)::int AS n FROM limit_leases WHERE key = $1 AND NOT starts_with(holder_id, $2) AND expires_at > ${DB_NOW_MS}`;
const BUCKETS = 'SELECT window_start, amount FROM limit_windows WHERE key = $1 AND window_start IN ($2, $3)';
const ADD_AMOUNTS = `INSERT INTO limit_windows AS w (key, window_start, amount)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[])
  ON CONFLICT (key, window_start) DO UPDATE SET amount = w.amount + EXCLUDED.amount`;

// $1 key, $2 this window's start, $3 amount, $4 room: the maximum plus rounding slack, $5 how much
// of the previous window the sliding minute still covers. The previous bucket is read inside the
// statement so that the check and the add see the same numbers.
const PREVIOUS = `COALESCE((SELECT amount FROM limit_windows WHERE key = $1::text AND window_start = $2::bigint - ${WINDOW_MS}), 0) * $5::float8`;
const CHARGE = `INSERT INTO limit_windows AS w (key, window_start, amount)
  SELECT $1::text, $2::bigint, $3::float8 WHERE $3::float8 <= $4::float8 - ${PREVIOUS}
  ON CONFLICT (key, window_start) DO UPDATE SET amount = w.amount + EXCLUDED.amount
  WHERE w.amount + EXCLUDED.amount <= $4::float8 - ${PREVIOUS}
  RETURNING amount`;

type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

/**
 * Runs work with at most `max` permits out at once; the rest wait in arrival order, each at most
 * CONNECT_TIMEOUT_MS. A use holds one permit throughout and never asks for a second, so none deadlocks.
 */
function permits(max: number): <T>(work: () => Promise<T>) => Promise<T> {
  let free = max;
  const queue: Array<() => void> = [];
  const wait = () =>
    new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(grant), 1);
        reject(new Error(`timeout exceeded waiting for one of the ${max} connections the limit counters may use`));
      }, CONNECT_TIMEOUT_MS);
      queue.push(grant);
    });
  return async (work) => {
    if (free > 0) free--;
    else await wait();
    try {
      return await work();
    } finally {
      // Handed straight to the next in line, so a newcomer never overtakes it.
      const next = queue.shift();
      if (next) next();
      else free++;
    }
  };
}

/** A session slot this replica holds; only a published one has rows other replicas see. */
interface Hold {
  readonly keys: readonly string[];
  state: 'local' | 'publishing' | 'published';
}

/** A write of unwritten amounts in flight; a check on one of its keys waits for it. */
interface AmountsWrite {
  readonly keys: ReadonlySet<string>;
  readonly done: Promise<unknown>;
}

type Indexed = { readonly c: CounterCharge; readonly index: number };

export function createPostgresCounters(options: PostgresCountersOptions): SharedLimitCounters {
  const leaseMs = options.leaseMs ?? 30_000;
  const renewEveryMs = options.renewEveryMs ?? Math.floor(leaseMs / 3);
  const flushEveryMs = options.flushEveryMs ?? 1_000;
  const report = options.onError ?? (() => undefined);
  const secrets = [...(options.secrets ?? []), passwordOf(options.databaseUrl ?? '')];
  const maxConnections = Math.max(1, Math.trunc(options.maxConnections ?? 4));
  const statementTimeoutMs = Math.max(1, Math.trunc(options.statementTimeoutMs ?? 5_000));
  // The server gives up first, so a statement the client gave up on never commits after it.
  const queryTimeoutMs = statementTimeoutMs + 1_000;
  const ownsPool = options.pool === undefined;
  const pool = options.pool ?? new pg.Pool({
    connectionString: options.databaseUrl,
    max: maxConnections,
    application_name: 'gatehouse-limits',
    // A limit check holds up a request: better refuse it quickly than wait on a stuck database.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: statementTimeoutMs,
    query_timeout: queryTimeoutMs,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  if (ownsPool) pool.on('error', (err) => report(failure(err), 'idle connection lost'));
  // A pool of their own bounds the counters already; a shared one is bounded here.
  const withConnection = ownsPool ? <T>(work: () => Promise<T>) => work() : permits(maxConnections);
  /** pg reads query_timeout from a query's config (client.js) though its types do not declare it. */
  const timed = (text: string, values: unknown[] | undefined) => ({ text, values, query_timeout: queryTimeoutMs }) as pg.QueryConfig;

  const replica = randomUUID();
  const ownPrefix = `${replica}:`;
  /** Slots this replica holds, by holder id, and how many of them fall under each key. */
  const holds = new Map<string, Hold>();
  const ownSlots = new Map<string, number>();
  let unpublished = new Map<string, Hold>();
  const unwritten = new UnwrittenAmounts();
  const writes = new Set<AmountsWrite>();
  // The latest time a charge was counted at: restored amounts older than its previous minute count for nothing.
  let lastNow = 0;
  const pending = new Set<Promise<unknown>>();
  let lastPrune = 0;
  let renewing = false;
  let flushing = false;

  const failure = (err: unknown) => storeFailure('postgres', err, { secrets, where: 'limit counters' });
  /**
   * One statement on its own. A shared pool's server-side limit may outlast the client's, so such a
   * statement may still commit after the client gave up: only reads and idempotent writes go here.
   */
  const query: Query = (text, values) =>
    withConnection(() => pool.query(timed(text, values))).catch((err: unknown) => {
      throw failure(err);
    });

  /**
   * Runs `work` in a transaction, committed only when it returns `keep`. Every write whose outcome
   * someone is told goes through here: the server cancels a statement before the client gives up on
   * it, and a transaction the client left is never committed.
   */
  function transaction<T>(work: (q: Query) => Promise<{ value: T; keep: boolean }>): Promise<T> {
    const run = async () => {
      const client = await pool.connect();
      const q: Query = (text, values) => client.query(timed(text, values));
      try {
        // One round trip; the shared pool's own limit suits the store's writes, not a limit check.
        await q(`BEGIN; SET LOCAL statement_timeout = ${statementTimeoutMs}`);
        const { value, keep } = await work(q);
        await q(keep ? 'COMMIT' : 'ROLLBACK');
        client.release();
        return value;
      } catch (err) {
        // The connection may be mid-transaction or broken: never hand it back to the pool.
        client.release(true);
        throw err;
      }
    };
    return withConnection(run).catch((err: unknown) => {
      throw failure(err);
    });
  }

  /** Work nobody awaits; close() waits for it so that the pool ends last. */
  const background = (what: string, work: () => Promise<unknown>) => {
    const done = work().catch((err: unknown) => report(failure(err), what));
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return done.then(() => undefined);
  };

  const countOwn = (keys: readonly string[], delta: 1 | -1) => {
    for (const key of keys) {
      const n = (ownSlots.get(key) ?? 0) + delta;
      if (n > 0) ownSlots.set(key, n);
      else ownSlots.delete(key);
    }
  };

  /**
   * Writes the unwritten amounts under `keys` (all when omitted) in one statement; a failure puts them
   * back to be sent again, so it runs in a transaction: a write the client gave up on never lands too.
   */
  function writeAmounts(keys?: readonly string[]): Promise<void> {
    const amounts = unwritten.take(keys);
    if (amounts.length === 0) return Promise.resolve();
    const done = transaction(async (q) => ({ value: await q(ADD_AMOUNTS, columns(amounts)), keep: true })).then(
      () => undefined,
      (err: unknown) => {
        unwritten.restore(amounts, lastNow);
        throw err;
      },
    );
    const write: AmountsWrite = { keys: new Set(amounts.map((a) => a.key)), done: done.catch(() => undefined) };
    writes.add(write);
    void write.done.then(() => writes.delete(write));
    return done;
  }

  /** Brings the database up to date with everything this replica counted under `keys`, before a check reads them. */
  async function settle(keys: readonly string[]): Promise<void> {
    for (const write of writes) if (keys.some((k) => write.keys.has(k))) await write.done;
    // A write that failed put its amounts back; this sends them again, and a second failure fails the check.
    await writeAmounts(keys);
  }

  /** Inserts lease rows for the slots taken under no maximum since the last flush. */
  async function publish(): Promise<void> {
    if (unpublished.size === 0) return;
    const batch = unpublished;
    unpublished = new Map();
    const keys: string[] = [];
    const ids: string[] = [];
    for (const [id, hold] of batch) {
      hold.state = 'publishing';
      for (const key of hold.keys) {
        keys.push(key);
        ids.push(id);
      }
    }
    try {
      await query(PUBLISH_LEASES, [keys, ids, leaseMs]);
    } catch (err) {
      for (const [id, hold] of batch) {
        if (holds.get(id) !== hold) continue;
        hold.state = 'local';
        unpublished.set(id, hold);
      }
      throw err;
    }
    const released: string[] = [];
    for (const [id, hold] of batch) {
      if (holds.get(id) === hold) hold.state = 'published';
      else released.push(id);
    }
    if (released.length > 0) await query(DELETE_LEASES, [released]);
  }

  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      await Promise.all([background('writing usage', () => writeAmounts()), background('publishing session slots', publish)]);
    } finally {
      flushing = false;
    }
  };
  const flushTimer = setInterval(() => void flush(), flushEveryMs);
  flushTimer.unref();

  const published = () => [...holds].filter(([, hold]) => hold.state === 'published').map(([id]) => id);
  const renew = async () => {
    if (renewing) return;
    renewing = true;
    try {
      const ids = published();
      if (ids.length > 0) await background('renewing leases', () => query(RENEW_LEASES, [ids, leaseMs]));
      const now = Date.now();
      if (now - lastPrune >= WINDOW_MS) {
        lastPrune = now;
        await background('pruning counters', async () => {
          await query(PRUNE_LEASES);
          await query(PRUNE_WINDOWS, [windowStart(now) - 2 * WINDOW_MS]);
        });
      }
    } finally {
      renewing = false;
    }
  };
  const renewTimer = setInterval(() => void renew(), renewEveryMs);
  renewTimer.unref();

  /** The database's buckets under `key` plus this replica's unwritten amounts. */
  async function readWindow(key: string, now: number): Promise<Window> {
    const start = windowStart(now);
    const { rows } = await query(BUCKETS, [key, start, start - WINDOW_MS]);
    const amountAt = (at: number) => Number(rows.find((r) => Number(r.window_start) === at)?.amount ?? 0);
    const local = unwritten.window(key, now);
    return { start, current: amountAt(start) + local.current, previous: amountAt(start - WINDOW_MS) + local.previous };
  }

  /** Adds each limited charge unless one would pass its maximum; returns the first that would, adding nothing. */
  async function chargeLimited(limited: readonly Indexed[], now: number): Promise<Indexed | undefined> {
    const start = windowStart(now);
    const previousWeight = 1 - (now - start) / WINDOW_MS;
    const charge = async (q: Query, c: CounterCharge) => {
      const { rowCount } = await q(CHARGE, [c.key, start, c.amount, c.max! + EPSILON, previousWeight]);
      return rowCount === 1;
    };
    // All or nothing: a later refusal rolls back the earlier charges. A single charge needs the
    // transaction too, so that one the client gave up on is cancelled rather than committed late.
    return transaction(async (q) => {
      for (const entry of limited) if (!(await charge(q, entry.c))) return { value: entry, keep: false };
      return { value: undefined, keep: true };
    });
  }

  return {
    async tryAcquire(slots, holder) {
      const id = `${ownPrefix}${holder}`;
      const keys = slots.map((s) => s.key);
      if (slots.every((s) => s.max === undefined)) {
        const hold: Hold = { keys, state: 'local' };
        holds.set(id, hold);
        unpublished.set(id, hold);
        countOwn(keys, 1);
        return -1;
      }
      let reserved = false;
      try {
        return await transaction(async (q) => {
          await q(LOCK_KEYS, [keys]);
          const { rows } = await q(COUNT_OTHERS, [keys, ownPrefix]);
          const others = new Map(rows.map((r) => [r.key as string, r.n as number]));
          const full = slots.findIndex(({ key, max }) => max !== undefined && (others.get(key) ?? 0) + (ownSlots.get(key) ?? 0) >= max);
          if (full !== -1) return { value: full, keep: false };
          // Counted before the lock is let go, so this replica's next acquirer of these keys sees it.
          holds.set(id, { keys, state: 'published' });
          countOwn(keys, 1);
          reserved = true;
          await q(INSERT_LEASES, [keys, id, leaseMs]);
          return { value: -1, keep: true };
        });
      } catch (err) {
        if (reserved && holds.delete(id)) countOwn(keys, -1);
        throw err;
      }
    },

    release(_keys, holder) {
      const id = `${ownPrefix}${holder}`;
      const hold = holds.get(id);
      if (hold === undefined) return Promise.resolve();
      holds.delete(id);
      unpublished.delete(id);
      countOwn(hold.keys, -1);
      // A slot being published is deleted once its insert lands; one never published has no row.
      if (hold.state !== 'published') return Promise.resolve();
      return background('releasing a session slot', () => query(DELETE_LEASES, [[id]]));
    },

    async tryCharge(charges, now) {
      lastNow = Math.max(lastNow, now);
      const limited: Indexed[] = [];
      charges.forEach((c, index) => {
        if (c.max !== undefined) limited.push({ c, index });
      });
      if (limited.length > 0) {
        // Key order, the order every writer locks rows in.
        limited.sort((a, b) => (a.c.key < b.c.key ? -1 : a.c.key > b.c.key ? 1 : 0));
        await settle(limited.map(({ c }) => c.key));
        const refused = await chargeLimited(limited, now);
        if (refused !== undefined) {
          const { c, index } = refused;
          return { index, retryAfterMs: waitUntilFits(await readWindow(c.key, now), c.amount, c.max!, now) };
        }
      }
      const start = windowStart(now);
      for (const c of charges) if (c.max === undefined && c.amount > 0) unwritten.add(c.key, start, c.amount);
      return null;
    },

    async held(key) {
      const { rows } = await query(HELD_OTHERS, [key, ownPrefix]);
      return (rows[0]!.n as number) + (ownSlots.get(key) ?? 0);
    },

    async windowTotal(key, now) {
      await settle([key]);
      return estimate(await readWindow(key, now), now);
    },

    async close() {
      clearInterval(flushTimer);
      clearInterval(renewTimer);
      // Let publishing and writes under way land first, so that every row this replica made is known here.
      await Promise.allSettled([...pending]);
      void background('writing usage on close', () => writeAmounts());
      const ids = published();
      holds.clear();
      unpublished.clear();
      ownSlots.clear();
      // Slots still held belong to sessions that outlive this replica; free them now rather than at expiry.
      if (ids.length > 0) void background('releasing slots on close', () => query(DELETE_LEASES, [ids]));
      await Promise.allSettled([...pending]);
      if (ownsPool) await pool.end();
    },
  };
}

/** Amounts as the three parallel arrays ADD_AMOUNTS unnests. */
function columns(amounts: readonly WindowAmount[]): [string[], number[], number[]] {
  return [amounts.map((a) => a.key), amounts.map((a) => a.start), amounts.map((a) => a.amount)];
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}
