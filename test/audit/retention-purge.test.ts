/**
 * The retention purge on both engines (SQLite and a real PostgreSQL): what is past retention goes,
 * an `audit.purged` record says so on the chain, and verify reports the purged range instead of a
 * break; rows removed any other way (by hand, or under a forged record) still fail verify.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditEventHash, entryHash } from '../../src/audit/canonical.ts';
import { chainedStore } from '../../src/audit/chained-store.ts';
import { Checkpointer } from '../../src/audit/checkpoints.ts';
import { Ledger } from '../../src/audit/ledger.ts';
import { Purger } from '../../src/audit/purge.ts';
import { PURGE_ACTION } from '../../src/audit/retention.ts';
import { verifyTrail } from '../../src/audit/verify-trail.ts';
import type { AuditRetentionConfig } from '../../src/config/audit-retention.ts';
import type { Store } from '../../src/store/types.ts';
import { engine, type Engine, type FreshDb } from './retention-support.ts';
import { newKey, silent, traffic, type Traffic } from './trail-support.ts';

const DAY = 86_400_000;
const T0 = 1_700_000_000_000;
const key = newKey();
const keys = new Map([[key.keyId, key.publicKey]]);
const ALL: AuditRetentionConfig = { interactions: DAY, sessions: DAY, events: DAY, bodies: DAY, every: DAY, batch: 2 };

/** One clock for every part (no wall time): `jump` moves it on, as days passing would. */
function clock(start = T0) {
  let t = start;
  return { now: () => ++t, jump: (ms: number) => void (t += ms) };
}

interface Setup {
  db: FreshDb;
  t: Traffic;
  c: ReturnType<typeof clock>;
  checkpoint: () => Promise<unknown>;
  purger: (retention?: AuditRetentionConfig, store?: Store) => Purger;
}

const count = async (db: FreshDb, sql: string, params: (string | number)[] = []) => Number((await db.query(sql, params))[0]!.n);

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`audit retention purge (${kind})`, () => {
    let eng: Engine;
    const opened: FreshDb[] = [];
    before(async () => {
      eng = await engine(kind);
    });
    after(async () => {
      await Promise.all(opened.map((d) => d.close()));
      await eng?.stop();
    });

    /** Writer A's traffic (8 entries) on a fresh database, checkpointed, then ten days pass. */
    async function setup(): Promise<Setup> {
      const db = await eng.fresh();
      opened.push(db);
      const c = clock();
      const t = await traffic(db.store, 'A', 3, c.now);
      const cp = new Checkpointer({ store: t.store, ledger: t.ledger, key, logger: silent, now: c.now });
      await cp.checkpoint();
      c.jump(10 * DAY);
      const checkpoint = () => cp.checkpoint();
      return { db, t, c, checkpoint, purger: (retention = ALL, store = t.store) => new Purger({ store, retention, logger: silent, now: c.now, checkpoint }) };
    }

    it('past retention: rows gone, audit.purged recorded, verify passes and reports the purged range', async () => {
      const s = await setup();
      const report = await s.purger().run();
      assert.deepEqual(report.counts, { bodies: 3, interactions: 3, sessions: 1, events: 2, ledger: 7 });
      assert.deepEqual(report.writers.map((w) => [w.writer, w.fromSeq, w.toSeq]), [['A', 1, 7]]);
      assert.equal(await count(s.db, 'SELECT COUNT(*) AS n FROM interactions'), 0);
      assert.equal(await count(s.db, 'SELECT COUNT(*) AS n FROM sessions'), 0);
      assert.equal(await count(s.db, 'SELECT COUNT(*) AS n FROM audit_events WHERE action <> ?', [PURGE_ACTION]), 0);
      assert.equal(await count(s.db, "SELECT MIN(seq) AS n FROM audit_ledger WHERE writer = 'A'"), 8);
      const [record] = await s.db.query('SELECT outcome, details_json FROM audit_events WHERE action = ?', [PURGE_ACTION]);
      assert.equal(Number(record!.outcome), 200);
      assert.deepEqual(JSON.parse(record!.details_json as string).counts, report.counts);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.ok, true);
      const a = verified.writers.find((w) => w.writer === 'A')!;
      assert.deepEqual(a.purged, { fromSeq: 1, toSeq: 7 });
      assert.equal(verified.purges.length, 1);
      assert.equal(verified.purges[0]!.id, report.id);
      // Entry 8 (the session's end) names a session the purge removed: counted, not a break.
      assert.equal(verified.purgedEvents, 1);
    });

    it('the new chain start is the hash of the last entry removed, which the first kept entry links to', async () => {
      const s = await setup();
      const [seven] = await s.db.query("SELECT hash FROM audit_ledger WHERE writer = 'A' AND seq = 7");
      const report = await s.purger().run();
      assert.equal(report.writers[0]!.anchorHash, seven!.hash);
      const [eight] = await s.db.query("SELECT prev_hash FROM audit_ledger WHERE writer = 'A' AND seq = 8");
      assert.equal(eight!.prev_hash, seven!.hash);
    });

    it('a dry run counts and changes nothing', async () => {
      const s = await setup();
      const snapshot = async () => [
        await count(s.db, 'SELECT COUNT(*) AS n FROM interactions WHERE request_body IS NOT NULL'),
        await count(s.db, 'SELECT COUNT(*) AS n FROM sessions'),
        await count(s.db, 'SELECT COUNT(*) AS n FROM audit_events'),
        await count(s.db, 'SELECT COUNT(*) AS n FROM audit_ledger'),
        await count(s.db, 'SELECT COUNT(*) AS n FROM audit_checkpoints'),
      ];
      const before = await snapshot();
      const report = await s.purger().run({ dryRun: true });
      assert.equal(report.id, null);
      assert.deepEqual(report.counts, { bodies: 3, interactions: 3, sessions: 0, events: 2, ledger: 7 });
      assert.deepEqual(await snapshot(), before);
      assert.equal((await verifyTrail(s.db.store, { publicKeys: keys })).ok, true);
    });

    it('bodies past retention are emptied; the rows stay and verify by their digests', async () => {
      const s = await setup();
      const report = await s.purger({ bodies: DAY, every: DAY, batch: 2 }).run();
      assert.deepEqual(report.counts, { bodies: 3, interactions: 0, sessions: 0, events: 0, ledger: 0 });
      const rows = await s.db.store.listInteractions(s.t.sessionId);
      assert.equal(rows.length, 3);
      for (const r of rows) {
        assert.equal(r.requestBody, null);
        assert.equal(r.responseBody, null);
        assert.equal(typeof r.bodiesPurgedAt, 'number');
        assert.ok(r.bodyDigests?.request?.sha256);
      }
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.purgedBodies, 3);
    });

    it('bodies emptied by hand, with no purge, fail verify at that interaction', async () => {
      const s = await setup();
      await s.db.exec('UPDATE interactions SET response_body = NULL, bodies_purged_at = 1 WHERE id = ?', [s.t.interactions[1]!]);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.equal(verified.ok, false);
      assert.deepEqual([verified.firstBreak?.seq, verified.firstBreak?.refId], [3, s.t.interactions[1]]);
      assert.match(verified.firstBreak!.problem, /no purge removed them/);
    });

    it('bodies emptied by hand on a row younger than the purge cutoff still fail after a purge', async () => {
      const s = await setup();
      await s.purger({ bodies: DAY, every: DAY, batch: 10 }).run();
      const young = await traffic(s.db.store, 'B', 2, s.c.now);
      await s.db.exec('UPDATE interactions SET request_body = NULL WHERE id = ?', [young.interactions[0]!]);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual([verified.firstBreak?.writer, verified.firstBreak?.seq], ['B', 2]);
    });

    for (const where of ['middle', 'tail'] as const) {
      it(`after a purge, an entry deleted by hand in the ${where} fails at its seq`, async () => {
        const s = await setup();
        await s.purger().run();
        const more = await traffic(s.db.store, 'A', 1, s.c.now);
        await new Checkpointer({ store: more.store, ledger: more.ledger, key, logger: silent, now: s.c.now }).checkpoint();
        assert.equal((await verifyTrail(s.db.store, { publicKeys: keys })).ok, true);
        // A's chain after the purge: 8 (kept), 9, 10 (the purge record), then 11… (the new traffic).
        const target = where === 'middle' ? 12 : 16;
        await s.db.exec('DELETE FROM audit_ledger WHERE writer = ? AND seq = ?', ['A', target]);
        const verified = await verifyTrail(s.db.store, { publicKeys: keys });
        assert.equal(verified.ok, false);
        assert.equal(verified.firstBreak?.writer, 'A');
        assert.equal(verified.firstBreak?.seq, target, JSON.stringify(verified.problems));
      });
    }

    it('entries removed from the start of a chain without a purge record fail at seq 1', async () => {
      const s = await setup();
      await s.db.exec("DELETE FROM audit_ledger WHERE writer = 'A' AND seq <= 3");
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual([verified.firstBreak?.writer, verified.firstBreak?.seq], ['A', 1]);
      assert.match(verified.firstBreak!.problem, /no purge record/);
    });

    it('a purge record forged by hand in the database fails verify, and so does what it claims to excuse', async () => {
      const s = await setup();
      await s.db.exec('DELETE FROM interactions WHERE id = ?', [s.t.interactions[0]!]);
      const details = { cutoffs: { interactions: T0 + 100 * DAY }, writers: [], counts: { bodies: 0, interactions: 1, sessions: 0, events: 0, ledger: 0 } };
      await s.db.exec(
        'INSERT INTO audit_events (id, at, replica_id, actor_id, actor_name, actor_kind, credential_id, action, target, outcome, details_json) VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, NULL, 200, ?)',
        ['aud_forged', T0 + 11 * DAY, 'gateway', 'gatehouse', 'gateway', PURGE_ACTION, JSON.stringify(details)],
      );
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.equal(verified.ok, false);
      assert.ok(verified.problems.some((p) => p.refId === 'aud_forged' && /not on any writer's chain/.test(p.problem)), JSON.stringify(verified.problems));
      assert.ok(verified.problems.some((p) => p.refId === s.t.interactions[0] && /missing/.test(p.problem)));
      assert.equal(verified.purges.length, 0);
    });

    it('a forged purge record appended to the chain with correct hashes is refused while no checkpoint signs it', async () => {
      const s = await setup();
      await s.db.exec('DELETE FROM interactions WHERE id = ?', [s.t.interactions[0]!]);
      const head = (await s.db.store.ledgerHead('A'))!;
      const event = {
        id: 'aud_forged2', at: T0 + 11 * DAY, replicaId: null, actorId: 'gateway', actorName: 'gatehouse', actorKind: 'gateway' as const, credentialId: null,
        action: PURGE_ACTION, target: null, outcome: 200, details: { cutoffs: { interactions: T0 + 100 * DAY }, writers: [] },
      };
      await s.db.store.insertAuditEvent(event);
      const base = { writer: 'A', seq: head.seq + 1, kind: 'audit.event', refId: event.id, eventHash: auditEventHash(event), prevHash: head.hash, at: T0 + 11 * DAY };
      await s.db.store.appendLedger({ ...base, hash: entryHash(base) });
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.equal(verified.ok, false);
      assert.ok(verified.problems.some((p) => p.refId === 'aud_forged2' && /not covered by a signed checkpoint/.test(p.problem)), JSON.stringify(verified.problems));
      assert.ok(verified.problems.some((p) => p.refId === s.t.interactions[0]));
    });

    it('a purge record whose details were edited fails at its entry and excuses nothing', async () => {
      const s = await setup();
      const report = await s.purger({ bodies: DAY, every: DAY, batch: 10 }).run();
      const [row] = await s.db.query('SELECT details_json FROM audit_events WHERE id = ?', [report.id!]);
      const details = JSON.parse(row!.details_json as string);
      details.cutoffs.interactions = T0 + 100 * DAY;
      await s.db.exec('UPDATE audit_events SET details_json = ? WHERE id = ?', [JSON.stringify(details), report.id!]);
      await s.db.exec('DELETE FROM interactions WHERE id = ?', [s.t.interactions[2]!]);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.ok(verified.problems.some((p) => p.refId === report.id && /changed/.test(p.problem)), JSON.stringify(verified.problems));
      assert.ok(verified.problems.some((p) => p.refId === s.t.interactions[2] && /missing/.test(p.problem)));
    });

    it('purging twice: the second run carries the first forward and removes nothing more', async () => {
      const s = await setup();
      await s.purger().run();
      // The entry the first run had to keep as the head is no longer the head: it goes now.
      const second = await s.purger().run();
      assert.deepEqual(second.counts, { bodies: 0, interactions: 0, sessions: 0, events: 0, ledger: 1 });
      assert.deepEqual(second.writers.map((w) => [w.writer, w.fromSeq, w.toSeq]), [['A', 1, 8]]);
      const third = await s.purger().run();
      assert.deepEqual(third.counts, { bodies: 0, interactions: 0, sessions: 0, events: 0, ledger: 0 });
      assert.deepEqual(third.writers, second.writers);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.purges.length, 3);
      assert.deepEqual(verified.writers.find((w) => w.writer === 'A')!.purged, { fromSeq: 1, toSeq: 8 });
    });

    it('a purge while another writer records traffic leaves that traffic whole', async () => {
      const s = await setup();
      const [report, b] = await Promise.all([s.purger().run(), traffic(s.db.store, 'B', 5, s.c.now)]);
      assert.ok(report.id);
      await new Checkpointer({ store: b.store, ledger: b.ledger, key, logger: silent, now: s.c.now }).checkpoint();
      assert.equal((await s.db.store.listInteractions(b.sessionId)).length, 5);
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual(verified.problems, []);
    });

    it('two purges at once (two replicas) only repeat each other', async () => {
      const s = await setup();
      const other = await s.db.open();
      const ledgerB = await Ledger.open(other, 'B', silent, s.c.now);
      const viaB = chainedStore(other, ledgerB);
      const checkpointB = new Checkpointer({ store: other, ledger: ledgerB, key, logger: silent, now: s.c.now });
      const purgerB = new Purger({ store: viaB, retention: ALL, logger: silent, now: s.c.now, checkpoint: () => checkpointB.checkpoint() });
      await Promise.all([s.purger().run(), purgerB.run()]);
      await ledgerB.settled();
      const verified = await verifyTrail(s.db.store, { publicKeys: keys });
      assert.deepEqual(verified.problems, []);
      assert.equal(await count(s.db, 'SELECT COUNT(*) AS n FROM interactions'), 0);
    });

    it('a purge cut short fails verify until a later run completes', async () => {
      const s = await setup();
      let calls = 0;
      const failing = new Proxy(s.t.store, {
        get(target, prop) {
          if (prop === 'purgeAudit') {
            return async (...args: Parameters<Store['purgeAudit']>) => {
              if (++calls > 2) throw new Error('the store went away');
              return target.purgeAudit(...args);
            };
          }
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      await assert.rejects(s.purger(ALL, failing).run(), /went away/);
      assert.equal((await verifyTrail(s.db.store, { publicKeys: keys })).ok, false);
      await s.purger().run();
      assert.deepEqual((await verifyTrail(s.db.store, { publicKeys: keys })).problems, []);
    });
  });
}
