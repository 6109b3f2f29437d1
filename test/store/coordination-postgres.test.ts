/**
 * Replicas' coordination over a real PostgreSQL: events reach every replica once, by NOTIFY or,
 * when notifications are lost, by the poll; a replica whose heartbeat stopped has its open work
 * closed by another, and only its own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { openStore } from '../../src/store/index.ts';
import { PostgresCoordination, type ReplicaTimings } from '../../src/store/coordination-postgres.ts';
import type { CoordinationEvent } from '../../src/store/coordination.ts';
import type { Store } from '../../src/store/types.ts';
import { interaction, session } from './fixtures.ts';

const HOUR = 3_600_000;
const logger = pino({ level: 'silent' });
/** Nothing happens by timer unless a test asks for it. */
const NO_TIMERS: ReplicaTimings = { heartbeatMs: HOUR, goneAfterMs: 30_000, pollMs: HOUR };

let server: PostgresServer;
let admin: pg.Pool;
const stores: Store[] = [];
const coordinations: PostgresCoordination[] = [];

async function replica(timings: ReplicaTimings = NO_TIMERS, now: () => number = Date.now): Promise<{ store: Store; coordination: PostgresCoordination; heard: CoordinationEvent[]; next: () => Promise<CoordinationEvent> }> {
  const store = await openStore({ databaseUrl: server.url });
  stores.push(store);
  const coordination = await PostgresCoordination.start(store, timings, logger, 'left open', now);
  coordinations.push(coordination);
  const heard: CoordinationEvent[] = [];
  const waiting: ((e: CoordinationEvent) => void)[] = [];
  coordination.subscribe((event) => {
    heard.push(event);
    waiting.shift()?.(event);
  });
  return { store, coordination, heard, next: () => new Promise((resolve) => waiting.push(resolve)) };
}

before(async () => {
  server = await startPostgres();
  admin = new pg.Pool({ connectionString: server.url, max: 2 });
});

after(async () => {
  for (const c of coordinations) await c.close().catch(() => undefined);
  for (const s of stores) await s.close().catch(() => undefined);
  await admin?.end();
  await server?.stop();
});

describe('PostgresCoordination', () => {
  test('an event reaches the other replica through NOTIFY alone (no poll runs) and each replica hears it once', async () => {
    const a = await replica();
    const b = await replica();
    const arriving = b.next();
    await a.coordination.publish({ type: 'tokens.revoked', tokenIds: ['tok_1', 'tok_2'], reason: 'revoked' });
    assert.deepEqual(await arriving, { type: 'tokens.revoked', tokenIds: ['tok_1', 'tok_2'], reason: 'revoked' });
    assert.equal(a.heard.length, 1, 'the publisher applies its own event at once, and only once');
    // A second notification for the same event (the publisher's own) must not deliver it again.
    const marker = b.next();
    await a.coordination.publish({ type: 'connections.changed', name: 'x' });
    await marker;
    assert.deepEqual(b.heard.map((e) => e.type), ['tokens.revoked', 'connections.changed']);
    assert.deepEqual(a.heard.map((e) => e.type), ['tokens.revoked', 'connections.changed']);
  });

  test('with its listener connection gone, a replica still hears events by polling', async () => {
    const a = await replica();
    const b = await replica({ ...NO_TIMERS, pollMs: 50 });
    // Every LISTEN connection dies (as behind a proxy that drops them); b's heartbeat would
    // reconnect only an hour from now.
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
    const arriving = b.next();
    await a.coordination.publish({ type: 'policy.reload', requestedBy: 'alice' });
    assert.deepEqual(await arriving, { type: 'policy.reload', requestedBy: 'alice' });
  });

  test('a replica whose heartbeat stopped has its open work closed by another; live replicas keep theirs', async () => {
    const gone = await replica();
    const live = await replica();
    const goneSession = session({ replicaId: gone.coordination.replicaId });
    const liveSession = session({ replicaId: live.coordination.replicaId });
    for (const s of [goneSession, liveSession]) {
      await live.store.insertSession(s);
      await live.store.insertInteraction(interaction(s.id, 1));
    }
    assert.deepEqual(await live.coordination.closeGoneReplicas(), { replicas: [], interactions: 0, sessions: 0 }, 'nobody is gone yet');
    // The replica's last heartbeat, moved an hour back: as if it was killed an hour ago.
    await admin.query('UPDATE replicas SET heartbeat_at = heartbeat_at - $2 WHERE id = $1', [gone.coordination.replicaId, HOUR]);
    const report = await live.coordination.closeGoneReplicas();
    assert.deepEqual(report.replicas, [gone.coordination.replicaId]);
    assert.deepEqual([report.interactions, report.sessions], [1, 1]);
    assert.equal((await live.store.getSession(goneSession.id))?.endReason, 'left open');
    assert.equal((await live.store.listInteractions(goneSession.id))[0]!.status, 'interrupted');
    assert.equal((await live.store.getSession(liveSession.id))?.endedAt, null);
    assert.equal((await live.store.listInteractions(liveSession.id))[0]!.status, 'open');
    const row = (await admin.query('SELECT stopped_at, stop_reason FROM replicas WHERE id = $1', [gone.coordination.replicaId])).rows[0];
    assert.equal(row.stop_reason, 'heartbeat lost');
    assert.deepEqual(await live.coordination.closeGoneReplicas(), { replicas: [], interactions: 0, sessions: 0 }, 'a replica is closed once');
  });

  test('a clean close marks the replica stopped and closes whatever it still had open', async () => {
    const r = await replica();
    const s = session({ replicaId: r.coordination.replicaId });
    await r.store.insertSession(s);
    await r.coordination.close('gateway stopped');
    assert.equal((await r.store.getSession(s.id))?.endReason, 'gateway stopped');
    const row = (await admin.query('SELECT stopped_at, stop_reason FROM replicas WHERE id = $1', [r.coordination.replicaId])).rows[0];
    assert.ok(row.stopped_at !== null);
    assert.equal(row.stop_reason, 'gateway stopped');
  });

  test('an event published while a replica is down is not replayed to a replica that starts later', async () => {
    const a = await replica();
    await a.coordination.publish({ type: 'connections.changed', name: 'before-start' });
    const late = await replica({ ...NO_TIMERS, pollMs: 50 });
    const arriving = late.next();
    await a.coordination.publish({ type: 'connections.changed', name: 'after-start' });
    assert.deepEqual(await arriving, { type: 'connections.changed', name: 'after-start' });
    assert.deepEqual(late.heard, [{ type: 'connections.changed', name: 'after-start' }]);
  });

  test('a replica sweeps only after its own heartbeat has held for goneAfter: after an outage it waits before judging others', async () => {
    let t = 0;
    const timings: ReplicaTimings = { heartbeatMs: HOUR, goneAfterMs: 3 * HOUR, pollMs: HOUR };
    const other = await replica();
    const watcher = await replica(timings, () => t);
    const s = session({ replicaId: other.coordination.replicaId });
    await watcher.store.insertSession(s);
    // Both were cut off from the database for five hours: the other's heartbeat is old too.
    await admin.query('UPDATE replicas SET heartbeat_at = heartbeat_at - $2 WHERE id = $1', [other.coordination.replicaId, 5 * HOUR]);
    t = 5 * HOUR;
    await watcher.coordination.beat();
    assert.equal((await watcher.store.getSession(s.id))?.endedAt, null, 'the first beat after a gap judges nobody');
    t = 6 * HOUR;
    await watcher.coordination.beat();
    t = 7 * HOUR;
    await watcher.coordination.beat();
    assert.equal((await watcher.store.getSession(s.id))?.endedAt, null, 'not yet goneAfter of unbroken beats');
    t = 8 * HOUR;
    await watcher.coordination.beat();
    assert.equal((await watcher.store.getSession(s.id))?.endReason, 'left open', 'after goneAfter of unbroken beats, a replica still silent is gone');
  });

  test('a replica taken for gone learns it at its next heartbeat, and its row is live again', async () => {
    const paused = await replica();
    const warnings: string[] = [];
    // Reads the log through a second replica's view: the paused one logs at error level.
    await admin.query("UPDATE replicas SET stopped_at = heartbeat_at, stop_reason = 'heartbeat lost' WHERE id = $1", [paused.coordination.replicaId]);
    const spy = (paused.coordination as unknown as { logger: pino.Logger }).logger;
    const original = spy.error.bind(spy);
    spy.error = ((...args: unknown[]) => {
      warnings.push(String(args[1] ?? args[0]));
      return (original as (...a: unknown[]) => void)(...args);
    }) as typeof spy.error;
    await paused.coordination.beat();
    assert.ok(warnings.some((w) => w.includes('taken for gone')));
    const row = (await admin.query('SELECT stopped_at FROM replicas WHERE id = $1', [paused.coordination.replicaId])).rows[0];
    assert.equal(row.stopped_at, null);
  });

  test('events heard while the gateway is still starting (nobody subscribed yet) are kept for the first handler', async () => {
    const a = await replica();
    const store = await openStore({ databaseUrl: server.url });
    stores.push(store);
    const starting = await PostgresCoordination.start(store, { ...NO_TIMERS, pollMs: 50 }, logger, 'left open');
    coordinations.push(starting);
    await a.coordination.publish({ type: 'connections.changed', name: 'added-while-starting' });
    // Let the starting replica read it before it subscribes: its poll runs every 50 ms.
    await new Promise<void>((resolve) => {
      const check = async () => {
        const { rows } = await admin.query("SELECT count(*)::int AS n FROM coordination_events WHERE payload_json LIKE '%added-while-starting%'");
        if (rows[0].n > 0) setTimeout(resolve, 200);
        else setImmediate(() => void check());
      };
      void check();
    });
    const heard: CoordinationEvent[] = [];
    starting.subscribe((event) => heard.push(event));
    assert.deepEqual(heard, [{ type: 'connections.changed', name: 'added-while-starting' }]);
  });

  test('a row dated in the future before a replica starts does not stop it hearing later events', async () => {
    await admin.query(
      "INSERT INTO coordination_events (id, created_at, origin, type, payload_json) VALUES ('evt_future_pre', $1, 'attacker', 'policy.reload', '{\"type\":\"policy.reload\",\"requestedBy\":\"x\"}')",
      [Date.now() + 365 * 86_400_000],
    );
    try {
      const a = await replica();
      const late = await replica({ ...NO_TIMERS, pollMs: 50 });
      const arriving = late.next();
      await a.coordination.publish({ type: 'connections.changed', name: 'after-future-row' });
      assert.deepEqual(await arriving, { type: 'connections.changed', name: 'after-future-row' });
    } finally {
      await admin.query("DELETE FROM coordination_events WHERE id = 'evt_future_pre'");
    }
  });

  test('a revocation of more tokens than one event holds arrives whole, in parts', async () => {
    const a = await replica();
    const b = await replica();
    const ids = Array.from({ length: 25_000 }, (_, i) => `tok_${i}`);
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      b.coordination.subscribe((event) => {
        if (event.type === 'tokens.revoked') received.push(...event.tokenIds);
        if (received.length === ids.length) resolve();
      }),
    );
    await a.coordination.publish({ type: 'tokens.revoked', tokenIds: ids, reason: 'revoked' });
    await all;
    assert.deepEqual(received, ids);
  });

  // A leaked listener would keep the pool's end() (store.close) waiting: bounded, so a leak fails.
  test('closing while a heartbeat reconnects the listener leaves no connection behind', { timeout: 20_000 }, async () => {
    const store = await openStore({ databaseUrl: server.url });
    const c = await PostgresCoordination.start(store, NO_TIMERS, logger, 'left open');
    const listeners = async () =>
      Number((await admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'LISTEN gatehouse_events' AND pid <> pg_backend_pid()")).rows[0].n);
    const before = await listeners();
    // The listener dies; the heartbeat reconnects it while close() runs.
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN gatehouse_events' AND pid <> pg_backend_pid()");
    await Promise.all([c.beat(), c.close()]);
    await store.close();
    assert.ok(before >= 1);
    // Every listener was terminated and the other replicas reconnect only at their hourly beat:
    // any LISTEN connection now is one the closed replica's beat made and leaked.
    assert.equal(await listeners(), 0, 'no LISTEN connection of the closed replica remains');
  });
});

