/** The delivery loop over the ledger: cursors, order, retries, filters, leases, on real stores. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ENGINES, type EngineHarness } from '../../store/fixtures.ts';
import { traffic } from '../trail-support.ts';
import { SinkError } from '../../../src/audit/sinks/types.ts';
import { nextEntries } from '../../../src/audit/outbox-source.ts';
import type { Store } from '../../../src/store/types.ts';
import { checkDelivered, deliverer, ledgerIds, MemorySink, sinkConfig } from './support.ts';

describe('audit export delivery (SQLite)', () => {
  let db: EngineHarness;
  let store: Store;
  before(async () => {
    db = await ENGINES.sqlite();
    store = await db.open();
  });
  after(async () => {
    await store.close();
    await db.stopDatabase();
  });

  test('delivers every entry of every writer in order, each with its chain hash, and keeps the cursor', async () => {
    await traffic(store, 'w1', 3);
    await traffic(store, 'w2', 2);
    const sink = new MemorySink();
    const d = deliverer(store, [{ config: sinkConfig({ name: 'all', batchSize: 4 }), sink }]);
    assert.deepEqual(await d.flush(), { all: 'idle' });
    assert.deepEqual(checkDelivered(await ledgerIds(store), sink.events), []);
    assert.ok(sink.batches.every((b) => b.length <= 4), 'batches respect batchSize');
    assert.equal(sink.events.length, 8 + 7, 'each entry exactly once when nothing failed');
    const cursors = await store.sinkCursors('all');
    assert.equal(cursors.get('w1'), 8);
    assert.equal(cursors.get('w2'), 7);
    // A new deliverer (a restart) carries on from the stored cursor: nothing is sent again.
    const again = new MemorySink();
    await deliverer(store, [{ config: sinkConfig({ name: 'all' }), sink: again }]).flush();
    assert.equal(again.events.length, 0);
    await traffic(store, 'w1', 1);
    await deliverer(store, [{ config: sinkConfig({ name: 'all' }), sink: again }]).flush();
    assert.deepEqual(again.events.map((e) => e.id), ['w1:9', 'w1:10', 'w1:11', 'w1:12', 'w1:13', 'w1:14']);
  });

  test('a failed batch does not move the cursor and is sent again, whole, after the back-off', async () => {
    const sink = new MemorySink();
    let now = 1_000;
    const d = deliverer(store, [{ config: sinkConfig({ name: 'flaky', batchSize: 5, retry: { min: '1s', max: '4s' } }), sink }], { now: () => now });
    sink.fail = new SinkError('receiver down');
    assert.deepEqual(await d.flush(), { flaky: 'failed' });
    assert.equal((await store.sinkCursors('flaky')).size, 0, 'nothing was acknowledged');
    sink.fail = null;
    now += 500;
    assert.deepEqual(await d.flush(), { flaky: 'idle' }, 'flush ignores the back-off');
    assert.deepEqual(checkDelivered(await ledgerIds(store), sink.events), []);
  });

  test('filters by kind, yet moves past what it skipped', async () => {
    const sink = new MemorySink();
    await deliverer(store, [{ config: sinkConfig({ name: 'sessions-only', kinds: ['session.start', 'session.end'] }), sink }]).flush();
    assert.ok(sink.events.length > 0);
    assert.ok(sink.events.every((e) => e.kind === 'session.start' || e.kind === 'session.end'));
    const heads = await Promise.all((await store.ledgerWriters()).map(async (w) => [w, (await store.ledgerHead(w))!.seq] as const));
    const cursors = await store.sinkCursors('sessions-only');
    for (const [w, seq] of heads) assert.equal(cursors.get(w), seq);
  });

  test('bodies only with includeBodies; OCSF when asked', async () => {
    const plain = new MemorySink();
    const bodies = new MemorySink();
    const ocsf = new MemorySink();
    await deliverer(store, [
      { config: sinkConfig({ name: 'plain', kinds: ['interaction'] }), sink: plain },
      { config: sinkConfig({ name: 'bodies', kinds: ['interaction'], includeBodies: true }), sink: bodies },
      { config: sinkConfig({ name: 'ocsf', kinds: ['interaction'], schema: 'ocsf' }), sink: ocsf },
    ]).flush();
    assert.ok(plain.events.every((e) => e.bodies === undefined && !JSON.stringify(e).includes('"q0"')));
    assert.ok(bodies.events.some((e) => e.bodies?.request === 'q0' && e.bodies.response === 'a0'));
    const first = ocsf.batches[0]![0]!.body;
    assert.equal(first.class_uid, 6003);
    assert.equal((first.unmapped as any).gatehouse.hash, ocsf.batches[0]![0]!.event.hash);
  });

  test('a refused size halves the batch down to one event, and the full size comes back after a success', async () => {
    await traffic(store, 'w3', 4);
    const sink = new MemorySink();
    const sizes: number[] = [];
    const original = sink.send.bind(sink);
    sink.send = async (records, signal) => {
      sizes.push(records.length);
      if (records.length > 2) throw new SinkError('too large', { status: 413, tooLarge: true });
      return original(records, signal);
    };
    const d = deliverer(store, [{ config: sinkConfig({ name: 'small', batchSize: 8 }), sink }]);
    for (let i = 0; i < 40 && (await d.flush()).small !== 'idle'; i++);
    assert.deepEqual(checkDelivered(await ledgerIds(store), sink.events), []);
    assert.deepEqual(sizes.slice(0, 3), [8, 4, 2]);
  });

  test('waits at a gap in a writer\'s seq (an append still on its way) until it is old', async () => {
    const row = (seq: number, at: number) => ({ writer: 'gappy', seq, kind: 'audit.event', refId: `missing-${seq}`, eventHash: 'e', prevHash: null, hash: `h${seq}`, at });
    await store.appendLedger(row(1, 10));
    await store.appendLedger(row(3, 20));
    const young = await nextEntries(store, new Map([['gappy', 0]]), 10, { now: 30, graceMs: 1_000 });
    assert.deepEqual(young.filter((e) => e.writer === 'gappy').map((e) => e.seq), [1]);
    const old = await nextEntries(store, new Map([['gappy', 0]]), 10, { now: 5_000, graceMs: 1_000 });
    assert.deepEqual(old.filter((e) => e.writer === 'gappy').map((e) => e.seq), [1, 3]);
    // An entry whose row is gone is still delivered, with its chain fields and refMissing.
    const sink = new MemorySink();
    await deliverer(store, [{ config: sinkConfig({ name: 'gaps' }), sink }], { gapGraceMs: 0 }).flush();
    const e = sink.events.find((x) => x.id === 'gappy:3')!;
    assert.equal(e.refMissing, true);
    assert.equal(e.hash, 'h3');
  });
});

describe('audit export lease (PostgreSQL)', () => {
  let db: EngineHarness;
  let a: Store;
  let b: Store;
  before(async () => {
    db = await ENGINES.postgres();
    a = await db.open();
    b = await db.open();
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.stopDatabase();
  });

  test('one replica delivers a sink; the other takes over once the lease expires or is released', async () => {
    await traffic(a, 'r1', 2);
    let now = 1_000_000;
    const clock = () => now;
    const sa = new MemorySink();
    const sb = new MemorySink();
    const da = deliverer(a, [{ config: sinkConfig({ name: 'siem' }), sink: sa }], { holder: 'A', useLease: true, now: clock, leaseTtlMs: 10_000 });
    const dbb = deliverer(b, [{ config: sinkConfig({ name: 'siem' }), sink: sb }], { holder: 'B', useLease: true, now: clock, leaseTtlMs: 10_000 });
    assert.deepEqual(await da.flush(), { siem: 'idle' });
    await traffic(a, 'r2', 1);
    assert.deepEqual(await dbb.flush(), { siem: 'standby' }, 'B stands by while A holds the lease');
    assert.equal(sb.events.length, 0);
    now += 10_001;
    assert.deepEqual(await dbb.flush(), { siem: 'idle' }, 'B takes over an expired lease');
    assert.deepEqual(sb.events.map((e) => e.writer), ['r2', 'r2', 'r2', 'r2', 'r2', 'r2'], 'and carries on from the shared cursor');
    assert.deepEqual(await da.flush(), { siem: 'standby' });
    await dbb.stop();
    assert.equal(sb.closed, true);
    assert.deepEqual(await da.flush(), { siem: 'idle' }, 'a released lease is free at once');
    assert.deepEqual(checkDelivered(await ledgerIds(a), [...sa.events, ...sb.events]), []);
  });

  test('a cursor never moves back', async () => {
    await a.advanceSinkCursor('mono', 'w', 10, 1);
    await b.advanceSinkCursor('mono', 'w', 4, 2);
    assert.equal((await a.sinkCursors('mono')).get('w'), 10);
  });
});
