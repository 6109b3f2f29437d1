/**
 * Limit counters in PostgreSQL, so that every replica counts against the same numbers.
 * Rates: one row per key and fixed minute, grown by a conditional upsert that only succeeds while
 * the sliding estimate stays within the maximum, so the row lock decides races. Sessions: one
 * lease row per slot, inserted under a per-key advisory lock after counting the unexpired ones;
 * each replica renews its leases, so a replica that dies frees its slots when they expire.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { storeFailure } from '../store/store-error.ts';
import {
  EPSILON,
  WINDOW_MS,
  estimate,
  waitUntilFits,
  windowStart,
  type CounterCharge,
  type CounterLimit,
  type SharedLimitCounters,
  type Window,
} from './counters.ts';

export interface PostgresCountersOptions {
  readonly databaseUrl: string;
  /** How long a slot outlives its replica's last renewal (default 30 s). */
  readonly leaseMs?: number;
  /** How often leases are renewed (default a third of the lease). */
  readonly renewEveryMs?: number;
  readonly poolSize?: number;
  /** Failures nobody awaits (renewal, release, pruning); the next awaited call reports its own. */
  readonly onError?: (err: Error, what: string) => void;
}

// The database's clock, not the replica's, decides when a lease has expired: replicas' clocks may differ.
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

// Locks taken in hash order, so two acquirers of overlapping keys never wait on each other in a cycle.
const LOCK_KEYS = `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`;
const COUNT_LEASES = `SELECT key, count(*)::int AS n FROM limit_leases WHERE key = ANY($1::text[]) AND expires_at > ${DB_NOW_MS} GROUP BY key`;
const INSERT_LEASES = `INSERT INTO limit_leases (key, holder_id, expires_at) SELECT k, $2, ${DB_NOW_MS} + $3 FROM unnest($1::text[]) AS k`;
const RENEW_LEASES = `UPDATE limit_leases SET expires_at = ${DB_NOW_MS} + $2 WHERE holder_id = ANY($1::text[])`;
const DELETE_LEASES = 'DELETE FROM limit_leases WHERE holder_id = ANY($1::text[])';
const PRUNE_LEASES = `DELETE FROM limit_leases WHERE expires_at <= ${DB_NOW_MS}`;
const PRUNE_WINDOWS = 'DELETE FROM limit_windows WHERE window_start < $1';
const HELD = `SELECT count(*)::int AS n FROM limit_leases WHERE key = $1 AND expires_at > ${DB_NOW_MS}`;
const BUCKETS = 'SELECT window_start, amount FROM limit_windows WHERE key = $1 AND window_start IN ($2, $3)';

// $1 key, $2 this window's start, $3 amount, $4 room: the maximum plus rounding slack, or null for
// no maximum, $5 how much of the previous window the sliding minute still covers. The previous
// bucket is read inside the statement so that the check and the add see the same numbers.
const PREVIOUS = `COALESCE((SELECT amount FROM limit_windows WHERE key = $1::text AND window_start = $2::bigint - ${WINDOW_MS}), 0) * $5::float8`;
const CHARGE = `INSERT INTO limit_windows AS w (key, window_start, amount)
  SELECT $1::text, $2::bigint, $3::float8 WHERE $4::float8 IS NULL OR $3::float8 <= $4::float8 - ${PREVIOUS}
  ON CONFLICT (key, window_start) DO UPDATE SET amount = w.amount + EXCLUDED.amount
  WHERE $4::float8 IS NULL OR w.amount + EXCLUDED.amount <= $4::float8 - ${PREVIOUS}
  RETURNING amount`;

type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

export function createPostgresCounters(options: PostgresCountersOptions): SharedLimitCounters {
  const leaseMs = options.leaseMs ?? 30_000;
  const renewEveryMs = options.renewEveryMs ?? Math.floor(leaseMs / 3);
  const report = options.onError ?? (() => undefined);
  const secrets = [passwordOf(options.databaseUrl)];
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? 4,
    application_name: 'gatehouse-limits',
    // A limit check holds up a request: better refuse it quickly than wait on a stuck database.
    connectionTimeoutMillis: 3_000,
    statement_timeout: 5_000,
    query_timeout: 6_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  pool.on('error', (err) => report(failure(err), 'idle connection lost'));

  const replica = randomUUID();
  /** Leases this replica holds and renews, by holder id. */
  const leases = new Set<string>();
  const pending = new Set<Promise<unknown>>();
  let lastPrune = 0;
  let renewing = false;

  const failure = (err: unknown) => storeFailure('postgres', err, { secrets, where: 'limit counters' });
  const query: Query = async (text, values) => {
    try {
      return await pool.query(text, values);
    } catch (err) {
      throw failure(err);
    }
  };

  /** Runs `work` in a transaction, committed only when it returns `keep`. */
  async function transaction<T>(work: (q: Query) => Promise<{ value: T; keep: boolean }>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw failure(err);
    }
    const q: Query = (text, values) => client.query(text, values);
    try {
      await q('BEGIN');
      const { value, keep } = await work(q);
      await q(keep ? 'COMMIT' : 'ROLLBACK');
      client.release();
      return value;
    } catch (err) {
      // The connection may be mid-transaction or broken: never hand it back to the pool.
      client.release(true);
      throw failure(err);
    }
  }

  /** Work nobody awaits; close() waits for it so that the pool ends last. */
  const background = (what: string, work: () => Promise<unknown>) => {
    const done = work().catch((err: unknown) => report(failure(err), what));
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return done.then(() => undefined);
  };

  const renew = async () => {
    if (renewing) return;
    renewing = true;
    try {
      if (leases.size > 0) await background('renewing leases', () => query(RENEW_LEASES, [[...leases], leaseMs]));
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
  const timer = setInterval(() => void renew(), renewEveryMs);
  timer.unref();

  async function readWindow(key: string, now: number): Promise<Window> {
    const start = windowStart(now);
    const { rows } = await query(BUCKETS, [key, start, start - WINDOW_MS]);
    const amountAt = (at: number) => Number(rows.find((r) => Number(r.window_start) === at)?.amount ?? 0);
    return { start, current: amountAt(start), previous: amountAt(start - WINDOW_MS) };
  }

  return {
    async tryAcquire(slots, holder) {
      const id = `${replica}:${holder}`;
      const keys = slots.map((s) => s.key);
      const full = await transaction(async (q) => {
        await q(LOCK_KEYS, [keys]);
        const { rows } = await q(COUNT_LEASES, [keys]);
        const counts = new Map(rows.map((r) => [r.key as string, r.n as number]));
        const index = slots.findIndex(({ key, max }: CounterLimit) => max !== undefined && (counts.get(key) ?? 0) >= max);
        if (index === -1) await q(INSERT_LEASES, [keys, id, leaseMs]);
        return { value: index, keep: index === -1 };
      });
      if (full === -1) leases.add(id);
      return full;
    },

    release(_keys, holder) {
      const id = `${replica}:${holder}`;
      if (!leases.delete(id)) return Promise.resolve();
      return background('releasing a session slot', () => query(DELETE_LEASES, [[id]]));
    },

    async tryCharge(charges, now) {
      const start = windowStart(now);
      const previousWeight = 1 - (now - start) / WINDOW_MS;
      // A charge that can neither refuse nor add anything needs no statement.
      const active = charges.map((c, index) => ({ c, index })).filter(({ c }) => c.max !== undefined || c.amount > 0);
      const charge = async (q: Query, c: CounterCharge) => {
        const room = c.max === undefined ? null : c.max + EPSILON;
        const { rowCount } = await q(CHARGE, [c.key, start, c.amount, room, previousWeight]);
        return rowCount === 1;
      };
      let refused: { c: CounterCharge; index: number } | undefined;
      if (active.length === 1) {
        if (!(await charge(query, active[0]!.c))) refused = active[0];
      } else if (active.length > 1) {
        // All or nothing: a later refusal rolls back the earlier charges.
        refused = await transaction(async (q) => {
          for (const entry of active) if (!(await charge(q, entry.c))) return { value: entry, keep: false };
          return { value: undefined, keep: true };
        });
      }
      if (refused === undefined) return null;
      const { c, index } = refused;
      return { index, retryAfterMs: waitUntilFits(await readWindow(c.key, now), c.amount, c.max!, now) };
    },

    async held(key) {
      const { rows } = await query(HELD, [key]);
      return rows[0]!.n as number;
    },

    async windowTotal(key, now) {
      return estimate(await readWindow(key, now), now);
    },

    async close() {
      clearInterval(timer);
      const held = [...leases];
      leases.clear();
      // Slots still held belong to sessions that outlive this replica; free them now rather than at expiry.
      if (held.length > 0) void background('releasing slots on close', () => query(DELETE_LEASES, [held]));
      await Promise.allSettled([...pending]);
      await pool.end();
    },
  };
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}
