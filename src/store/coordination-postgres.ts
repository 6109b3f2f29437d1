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
import pg from 'pg';
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
/** Longer than any insert can take from stamping its time to committing (the store's statement timeout is 15 s). */
const LOOK_BACK_MS = 30_000;
/** Token ids per tokens.revoked row; a larger revocation is published as several events. */
export const MAX_IDS_PER_EVENT = 10_000;
/** Events are kept this long: a replica that cannot read for longer falls back on its own sweeps. */
const RETAIN_EVENTS_MS = 3_600_000;
/** Rows of replicas that stopped are kept this long, for `gatehouse replicas` and clean-up reports. */
const RETAIN_REPLICAS_MS = 7 * 86_400_000;

const SQL = {
  register: `INSERT INTO replicas (id, host, pid, started_at, heartbeat_at) VALUES ($1, $2, $3, ${DB_NOW_MS}, ${DB_NOW_MS}) RETURNING started_at`,
  // A replica another declared gone (it was paused past goneAfter) comes back: its row is renewed,
  // not left stopped, and it learns that it had been declared gone.
  heartbeat: `UPDATE replicas r SET heartbeat_at = ${DB_NOW_MS}, stopped_at = NULL, stop_reason = NULL
    FROM (SELECT id, stopped_at IS NOT NULL AS was_stopped FROM replicas WHERE id = $1 FOR UPDATE) before
    WHERE r.id = before.id RETURNING before.was_stopped`,
  gone: `SELECT id FROM replicas WHERE stopped_at IS NULL AND heartbeat_at < ${DB_NOW_MS} - $1`,
  markGone: `UPDATE replicas SET stopped_at = heartbeat_at, stop_reason = $2 WHERE id = ANY($1::text[]) AND stopped_at IS NULL`,
  stopped: `UPDATE replicas SET stopped_at = ${DB_NOW_MS}, stop_reason = $2 WHERE id = $1`,
  publish: `WITH added AS (
      INSERT INTO coordination_events (id, created_at, origin, type, payload_json) VALUES ($1, ${DB_NOW_MS}, $2, $3, $4) RETURNING id, created_at
    ) SELECT pg_notify('${CHANNEL}', id), created_at FROM added`,
  read: `SELECT id, created_at, payload_json, ${DB_NOW_MS} AS now FROM coordination_events WHERE created_at >= $1 ORDER BY created_at, id`,
  // Never past the database's now: a row dated in the future must not hide the events to come.
  newest: `SELECT least(coalesce(max(created_at), 0), ${DB_NOW_MS}) AS at FROM coordination_events`,
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
  /** Events heard before the first handler subscribed (the gateway is still starting): kept, not lost. */
  private early: CoordinationEvent[] | null = [];
  /** Ids delivered, by their time: forgotten once they fall out of the look-back. */
  private readonly delivered = new Map<string, number>();
  private newestSeen = 0;
  /**
   * Its own connection, outside the pool: LISTEN needs one held for good, and the heartbeat runs
   * on it too, so neither waits behind the pool when requests use every pooled connection.
   */
  private listener: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private beating: Promise<void> | null = null;
  /** Since when this replica's heartbeats have succeeded without a gap; null after a failed one. */
  private healthySince: number | null = null;
  private lastBeat = 0;
  private closed = false;

  private constructor(
    private readonly store: Store,
    private readonly access: PostgresAccess,
    private readonly timings: ReplicaTimings,
    private readonly logger: Logger,
    private readonly leftOpenReason: string,
    private readonly now: () => number,
  ) {}

  /**
   * Registers this replica, starts reading events from now on and starts the heartbeat. Closes the
   * work left by versions that did not record replicas, but not that of other replicas: a replica
   * judges others gone only after its own heartbeat has held for goneAfter (see beat()). Throws
   * StoreError when the database cannot be reached.
   */
  static async start(store: Store, timings: ReplicaTimings, logger: Logger, leftOpenReason: string, now: () => number = Date.now): Promise<PostgresCoordination> {
    if (!store.postgres) throw new TypeError('PostgresCoordination needs a PostgreSQL store');
    const coordination = new PostgresCoordination(store, store.postgres, timings, logger, leftOpenReason, now);
    const registered = await coordination.query(SQL.register, [coordination.replicaId, hostname(), process.pid]);
    await coordination.ensureListener();
    await coordination.skipPast(Number(registered.rows[0]!.started_at));
    const legacy = await store.closeWorkOf([null], Date.now(), leftOpenReason);
    if (legacy.interactions + legacy.sessions > 0) logger.warn(legacy, 'closed the sessions a version without replica ids left open');
    coordination.healthySince = now();
    coordination.lastBeat = coordination.healthySince;
    coordination.timers = [
      setInterval(() => void coordination.beat(), timings.heartbeatMs),
      setInterval(() => void coordination.read().catch((err) => coordination.warn(err, 'reading events')), timings.pollMs),
    ];
    for (const timer of coordination.timers) timer.unref();
    return coordination;
  }

  async publish(event: CoordinationEvent): Promise<void> {
    // A revocation of very many tokens goes as several rows: each stays a readable size.
    const parts =
      event.type === 'tokens.revoked' && event.tokenIds.length > MAX_IDS_PER_EVENT
        ? Array.from({ length: Math.ceil(event.tokenIds.length / MAX_IDS_PER_EVENT) }, (_, i) => ({
            ...event,
            tokenIds: event.tokenIds.slice(i * MAX_IDS_PER_EVENT, (i + 1) * MAX_IDS_PER_EVENT),
          }))
        : [event];
    for (const part of parts) {
      const id = newId('evt');
      const { rows } = await this.query(SQL.publish, [id, this.replicaId, part.type, JSON.stringify(part)]);
      // This replica applies its own event now rather than on the notification's round trip.
      this.deliverOnce(id, Number(rows[0]!.created_at), part);
    }
  }

  subscribe(handler: EventHandler): () => void {
    this.handlers.add(handler);
    const early = this.early;
    this.early = null;
    for (const event of early ?? []) deliver([handler], event, (err) => this.warn(err, `handling a ${event.type} event`));
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
    await Promise.allSettled([this.connecting, this.beating, this.reading]);
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
    try {
      await this.store.closeWorkOf([this.replicaId], Date.now(), reason);
      await this.query(SQL.stopped, [this.replicaId, reason]);
    } catch (err) {
      // The rows stay open; another replica closes them once this one's heartbeat is old enough.
      this.logger.warn({ error: errorMessage(err, this.access.secrets) }, 'coordination: marking this replica stopped failed');
    }
  }

  /** One connection attempt at a time; a listener connected after close() is ended, never kept. */
  private ensureListener(): Promise<void> {
    if (this.closed || this.listener) return Promise.resolve();
    this.connecting ??= this.connectListener().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client(this.access.clientConfig);
    client.on('notification', () => this.wake());
    // A broken listener is dropped and replaced at the next heartbeat; until then the poll reads events.
    client.on('error', (err) => {
      this.warn(err, 'event listener connection');
      if (this.listener === client) this.listener = null;
      void client.end().catch(() => undefined);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      void client.end().catch(() => undefined);
      this.warn(err, 'listening for events');
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
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
      const id = row.id as string;
      const at = Number(row.created_at);
      // A row dated in the future (written by hand; replicas stamp the database's clock) must not
      // move the reading point past events still to come.
      const seen = Math.min(at, Number(row.now));
      if (seen > this.newestSeen) this.newestSeen = seen;
      if (this.delivered.has(id)) continue;
      const event = parseEvent(row.payload_json);
      if (event === null) {
        this.logger.warn({ event: id.slice(0, 64) }, 'coordination: skipped an event that is not one this version knows');
        this.delivered.set(id, at);
        continue;
      }
      this.deliverOnce(id, at, event);
    }
    for (const [id, at] of this.delivered) if (at < since) this.delivered.delete(id);
  }

  private deliverOnce(id: string, at: number, event: CoordinationEvent): void {
    if (this.closed || this.delivered.has(id)) return;
    this.delivered.set(id, at);
    if (this.early) this.early.push(event);
    else deliver(this.handlers, event, (err) => this.warn(err, `handling a ${event.type} event`));
  }

  /** One heartbeat now (the timer calls it; tests too). Heartbeats never overlap: one still running is awaited instead. */
  beat(): Promise<void> {
    if (this.closed || this.beating) return this.beating ?? Promise.resolve();
    this.beating = this.beatOnce().finally(() => (this.beating = null));
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    try {
      const renewed = await this.heartbeatQuery(SQL.heartbeat, [this.replicaId]);
      if (renewed.rowCount === 0) await this.heartbeatQuery(SQL.register, [this.replicaId, hostname(), process.pid]);
      else if (renewed.rows[0]?.was_stopped) {
        this.logger.error(
          { replica: this.replicaId },
          'this replica was taken for gone (its heartbeat stopped for longer than replicas.goneAfter): the store shows its open sessions closed, though they go on',
        );
      }
      const now = this.now();
      // A gap (an outage, a stall) means this replica cannot yet tell a gone replica from one that,
      // like itself, could not reach the database: it waits a whole goneAfter of beats again.
      if (this.healthySince === null || now - this.lastBeat > 2 * this.timings.heartbeatMs) this.healthySince = now;
      this.lastBeat = now;
      await this.ensureListener();
      if (now - this.healthySince >= this.timings.goneAfterMs) await this.closeGoneReplicas();
      await this.query(SQL.pruneEvents, [RETAIN_EVENTS_MS]);
      await this.query(SQL.pruneReplicas, [RETAIN_REPLICAS_MS]);
    } catch (err) {
      this.healthySince = null;
      this.warn(err, 'heartbeat');
    }
  }

  /** On the listener's own connection when it has one, so a busy pool cannot make a live replica look gone. */
  private async heartbeatQuery(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const listener = this.listener;
    if (!listener) return this.query(text, values);
    try {
      return await listener.query(text, values);
    } catch (err) {
      throw storeFailure('postgres', err, { secrets: this.access.secrets, where: 'coordination' });
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
    this.logger.warn({ error: errorMessage(err, this.access.secrets) }, `coordination: ${what} failed`);
  }
}

function errorMessage(err: unknown, secrets: readonly string[]): string {
  return storeFailure('postgres', err, { secrets, where: 'coordination' }).message;
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
