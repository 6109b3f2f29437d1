/**
 * Coordination between replicas through their shared PostgreSQL: a row per replica renewed by a
 * heartbeat, and events written to a table that every replica reads. NOTIFY wakes the readers at
 * once; a poll every `pollMs` is the fallback when a notification is lost (a dropped listener
 * connection, a proxy that does not pass them), so an event reaches every replica within a poll.
 *
 * Events are read by time, not by a sequence: ids from several writers do not commit in order,
 * so each read looks back `LOOK_BACK_MS` before the newest event it has seen and skips the ids it
 * already delivered. The database's clock stamps both events and heartbeats, so replicas whose
 * clocks disagree still agree on what is new and who is gone.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import { storeFailure } from '../util/store-failure.ts';
import { newId } from '../util/ids.ts';
import { coordinationEventSchema, deliver, type Coordination, type CoordinationEvent, type EventHandler } from './coordination.ts';
import type { PostgresAccess, Store } from './types.ts';

export interface ReplicaTimings {
  /** How often this replica renews its row, looks for gone replicas and reads events it was not notified of. */
  readonly heartbeatMs: number;
  /** A replica whose row was not renewed for this long is gone: its open work is closed. */
  readonly goneAfterMs: number;
  /** How often events are read without a notification. */
  readonly pollMs: number;
}

const CHANNEL = 'gatehouse_events';
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
/** Longer than any insert takes from stamping its time to committing. */
const LOOK_BACK_MS = 10_000;
/** Events are kept this long: a replica that cannot read for longer falls back on its own sweeps. */
const RETAIN_EVENTS_MS = 3_600_000;
/** Rows of replicas that stopped are kept this long, for `gatehouse replicas` and clean-up reports. */
const RETAIN_REPLICAS_MS = 7 * 86_400_000;

const SQL = {
  register: `INSERT INTO replicas (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, ${DB_NOW_MS}, ${DB_NOW_MS}) RETURNING started_at`,
  // A replica another declared gone (it was paused past goneAfter) comes back: its row is renewed, not left stopped.
  heartbeat: `UPDATE replicas SET heartbeat_at = ${DB_NOW_MS}, stopped_at = NULL, stop_reason = NULL WHERE id = $1`,
  gone: `SELECT id FROM replicas WHERE stopped_at IS NULL AND heartbeat_at < ${DB_NOW_MS} - $1`,
  markGone: `UPDATE replicas SET stopped_at = heartbeat_at, stop_reason = $2 WHERE id = ANY($1::text[]) AND stopped_at IS NULL`,
  stopped: `UPDATE replicas SET stopped_at = ${DB_NOW_MS}, stop_reason = $2 WHERE id = $1`,
  publish: `WITH added AS (
      INSERT INTO coordination_events (id, created_at, origin, type, payload_json) VALUES ($1, ${DB_NOW_MS}, $2, $3, $4) RETURNING id, created_at
    ) SELECT pg_notify('${CHANNEL}', id), created_at FROM added`,
  read: `SELECT id, created_at, payload_json, ${DB_NOW_MS} AS now FROM coordination_events WHERE created_at >= $1 ORDER BY created_at, id`,
  newest: 'SELECT coalesce(max(created_at), 0) AS at FROM coordination_events',
  pruneEvents: `DELETE FROM coordination_events WHERE created_at < ${DB_NOW_MS} - $1`,
  pruneReplicas: `DELETE FROM replicas WHERE stopped_at < ${DB_NOW_MS} - $1`,
} as const;

export interface GoneReplicaReport {
  readonly replicas: readonly string[];
  readonly interactions: number;
  readonly sessions: number;
}

export class PostgresCoordination implements Coordination {
  readonly replicaId = newId('rep');
  private readonly handlers = new Set<EventHandler>();
  /** Ids delivered, by their time: forgotten once they fall out of the look-back. */
  private readonly delivered = new Map<string, number>();
  private newestSeen = 0;
  private listener: pg.PoolClient | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private closed = false;

  private constructor(
    private readonly store: Store,
    private readonly access: PostgresAccess,
    private readonly timings: ReplicaTimings,
    private readonly logger: Logger,
    private readonly leftOpenReason: string,
  ) {}

  /**
   * Registers this replica, starts reading events from now on, closes the work of replicas that are
   * gone and starts the heartbeat. Throws StoreError when the database cannot be reached.
   */
  static async start(store: Store, timings: ReplicaTimings, logger: Logger, leftOpenReason: string): Promise<PostgresCoordination> {
    if (!store.postgres) throw new TypeError('PostgresCoordination needs a PostgreSQL store');
    const coordination = new PostgresCoordination(store, store.postgres, timings, logger, leftOpenReason);
    const registered = await coordination.query(SQL.register, [coordination.replicaId, hostname(), process.pid]);
    await coordination.listen();
    await coordination.skipPast(Number(registered.rows[0]!.started_at));
    await coordination.closeGoneReplicas();
    coordination.timers = [
      setInterval(() => void coordination.beat(), timings.heartbeatMs),
      setInterval(() => void coordination.read().catch((err) => coordination.warn(err, 'reading events')), timings.pollMs),
    ];
    for (const timer of coordination.timers) timer.unref();
    return coordination;
  }

  async publish(event: CoordinationEvent): Promise<void> {
    const id = newId('evt');
    const { rows } = await this.query(SQL.publish, [id, this.replicaId, event.type, JSON.stringify(event)]);
    // This replica applies its own event now rather than on the notification's round trip.
    this.deliverOnce(id, Number(rows[0]!.created_at), event);
  }

  subscribe(handler: EventHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * Closes the open work of replicas whose heartbeat stopped: their interactions become
   * interrupted and their sessions end with the left-open marker. Any replica may do it, any
   * number of times: the updates only touch rows still open.
   */
  async closeGoneReplicas(): Promise<GoneReplicaReport> {
    const gone = (await this.query(SQL.gone, [this.timings.goneAfterMs])).rows.map((r) => r.id as string).filter((id) => id !== this.replicaId);
    if (gone.length === 0) return { replicas: [], interactions: 0, sessions: 0 };
    const closed = await this.store.closeWorkOf(gone, Date.now(), this.leftOpenReason);
    await this.query(SQL.markGone, [gone, 'heartbeat lost']);
    if (closed.interactions + closed.sessions > 0) this.logger.warn({ replicas: gone, ...closed }, 'closed the open work of replicas that stopped without closing it');
    return { replicas: gone, ...closed };
  }

  /** Stops listening and heartbeats and marks this replica stopped; its open work, if any, is closed with `reason`. */
  async close(reason = 'stopped'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.handlers.clear();
    const listener = this.listener;
    this.listener = null;
    if (listener) {
      listener.removeAllListeners('notification');
      await listener.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      listener.release();
    }
    await this.reading?.catch(() => undefined);
    try {
      await this.store.closeWorkOf([this.replicaId], Date.now(), reason);
      await this.query(SQL.stopped, [this.replicaId, reason]);
    } catch (err) {
      // The rows stay open; another replica closes them once this one's heartbeat is old enough.
      this.warn(err, 'marking this replica stopped');
    }
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    let client: pg.PoolClient;
    try {
      client = await this.access.pool.connect();
    } catch (err) {
      this.warn(err, 'connecting the event listener');
      return;
    }
    client.on('notification', () => this.wake());
    // A broken listener is dropped and replaced at the next heartbeat; until then the poll reads events.
    client.on('error', (err) => {
      this.warn(err, 'event listener connection');
      if (this.listener === client) this.listener = null;
      client.release(err);
    });
    try {
      await client.query(`LISTEN ${CHANNEL}`);
      this.listener = client;
    } catch (err) {
      client.release(err as Error);
      this.warn(err, 'listening for events');
    }
  }

  /** Events from before this replica started are not its to apply: the store already shows their effect. */
  private async skipPast(startedAt: number): Promise<void> {
    const [{ at }] = (await this.query(SQL.newest, [])).rows as [{ at: number }];
    this.newestSeen = Number(at);
    const { rows } = await this.query(SQL.read, [this.newestSeen - LOOK_BACK_MS]);
    for (const row of rows) if (Number(row.created_at) < startedAt) this.delivered.set(row.id as string, Number(row.created_at));
  }

  private wake(): void {
    void this.read().catch((err) => this.warn(err, 'reading events'));
  }

  /** One read at a time; a wake during a read makes exactly one more. */
  private read(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          await this.readOnce();
        } while (this.readAgain && !this.closed);
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    const since = this.newestSeen - LOOK_BACK_MS;
    const { rows } = await this.query(SQL.read, [since]);
    for (const row of rows) {
      const at = Number(row.created_at);
      // A row dated in the future (written by hand; replicas stamp the database's clock) must not
      // move the reading point past events still to come.
      const seen = Math.min(at, Number(row.now));
      if (seen > this.newestSeen) this.newestSeen = seen;
      const event = parseEvent(row.payload_json);
      if (event === null) {
        if (!this.delivered.has(row.id as string)) this.logger.warn({ event: String(row.id).slice(0, 64) }, 'coordination: skipped an event that is not one this version knows');
        this.delivered.set(row.id as string, at);
        continue;
      }
      this.deliverOnce(row.id as string, at, event);
    }
    for (const [id, at] of this.delivered) if (at < since) this.delivered.delete(id);
  }

  private deliverOnce(id: string, at: number, event: CoordinationEvent): void {
    if (this.closed || this.delivered.has(id)) return;
    this.delivered.set(id, at);
    deliver(this.handlers, event, (err) => this.warn(err, `handling a ${event.type} event`));
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      const renewed = await this.query(SQL.heartbeat, [this.replicaId]);
      if (renewed.rowCount === 0) await this.query(SQL.register, [this.replicaId, hostname(), process.pid]);
      if (!this.listener) await this.listen();
      await this.closeGoneReplicas();
      await this.query(SQL.pruneEvents, [RETAIN_EVENTS_MS]);
      await this.query(SQL.pruneReplicas, [RETAIN_REPLICAS_MS]);
    } catch (err) {
      this.warn(err, 'heartbeat');
    }
  }

  private async query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.access.pool.query(text, values);
    } catch (err) {
      throw storeFailure('postgres', err, { secrets: this.access.secrets, where: 'coordination' });
    }
  }

  private warn(err: unknown, what: string): void {
    if (this.closed) return;
    const error = storeFailure('postgres', err, { secrets: this.access.secrets, where: 'coordination' });
    this.logger.warn({ error: error.message }, `coordination: ${what} failed`);
  }
}

function parseEvent(payload: unknown): CoordinationEvent | null {
  if (typeof payload !== 'string') return null;
  try {
    const parsed = coordinationEventSchema.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
