/**
 * Cross-linked checkpoints (each signs the other writers' heads it saw), the unanchored tail,
 * verify in pages, and a restarted replica carrying on its chain; on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Checkpointer, signCheckpoint } from '../../src/audit/checkpoints.ts';
import { AuditTrail } from '../../src/audit/trail.ts';
import { verifyTrail } from '../../src/audit/verify-trail.ts';
import { parseCheckpointLines } from '../../src/audit/offline-verify.ts';
import { engine, type Engine, type FreshDb } from './retention-support.ts';
import { counter, newKey, silent, traffic, type Traffic } from './trail-support.ts';

const key = newKey();
const keys = new Map([[key.keyId, key.publicKey]]);

function checkpointOf(t: Traffic, now: () => number): Checkpointer {
  return new Checkpointer({ store: t.store, ledger: t.ledger, key, logger: silent, now });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`cross-linked checkpoints (${kind})`, () => {
    let eng: Engine;
    const opened: FreshDb[] = [];
    before(async () => {
      eng = await engine(kind);
    });
    after(async () => {
      await Promise.all(opened.map((d) => d.close()));
      await eng?.stop();
    });
    const fresh = async () => {
      const db = await eng.fresh();
      opened.push(db);
      return db;
    };

    /** A writes and signs; B writes and signs, seeing A's head; then A writes on, unsigned. */
    async function twoWriters() {
      const db = await fresh();
      const now = counter();
      const a = await traffic(db.store, 'A', 2, now);
      await checkpointOf(a, now).checkpoint();
      const a2 = await traffic(db.store, 'A', 1, now);
      const b = await traffic(db.store, 'B', 1, now);
      const signedB = (await checkpointOf(b, now).checkpoint())!;
      return { db, now, a: a2, b, signedB };
    }

    it("B's checkpoint signs A's head; verify counts A anchored up to it", async () => {
      const { db, signedB } = await twoWriters();
      assert.deepEqual(signedB.peers, [{ writer: 'A', seq: 13, hash: (await db.store.ledgerHead('A'))!.hash }]);
      const report = await verifyTrail(db.store, { publicKeys: keys });
      assert.deepEqual(report.problems, []);
      const a = report.writers.find((w) => w.writer === 'A')!;
      assert.equal(a.anchoredSeq, 13, "A's own checkpoint signed seq 7; B's saw 13");
      assert.equal(a.unanchoredTail, 0);
    });

    it("deleting the tail of A after B's checkpoint saw A's head names A's missing tail", async () => {
      const { db } = await twoWriters();
      await db.exec("DELETE FROM audit_ledger WHERE writer = 'A' AND seq > 9");
      const report = await verifyTrail(db.store, { publicKeys: keys });
      assert.equal(report.ok, false);
      assert.equal(report.firstBreak?.writer, 'A');
      assert.equal(report.firstBreak?.seq, 10);
      assert.match(report.firstBreak!.problem, /entries 10…13 are missing: writer B's checkpoint at seq 6 saw this chain's head at seq 13/);
    });

    it("deleting A's whole chain (entries and checkpoints) is named by B's checkpoint", async () => {
      const { db } = await twoWriters();
      await db.exec("DELETE FROM audit_ledger WHERE writer = 'A'");
      await db.exec("DELETE FROM audit_checkpoints WHERE writer = 'A'");
      const report = await verifyTrail(db.store, { publicKeys: keys });
      assert.equal(report.firstBreak?.writer, 'A');
      assert.match(report.firstBreak!.problem, /whole chain is missing/);
    });

    it('without cross-links the same cut tail would only show as an unanchored tail', async () => {
      const db = await fresh();
      const now = counter();
      const a = await traffic(db.store, 'A', 2, now);
      await checkpointOf(a, now).checkpoint();
      await traffic(db.store, 'A', 1, now);
      const report = await verifyTrail(db.store, { publicKeys: keys });
      assert.equal(report.ok, true);
      const w = report.writers.find((x) => x.writer === 'A')!;
      assert.equal(w.anchoredSeq, 7);
      assert.equal(w.unanchoredTail, 6, 'reported distinctly: unanchored tail, not a break');
    });

    const forgeries: [string, (c: ReturnType<typeof signCheckpoint>) => ReturnType<typeof signCheckpoint>, RegExp][] = [
      ['a bad signature', (c) => ({ ...c, signature: Buffer.from('x'.repeat(64)).toString('base64') }), /signature does not verify/],
      ['another key', (c) => signCheckpoint({ ...c }, newKey()), /not among the trusted public keys/],
      ['swapped peer heads', (c) => ({ ...c, peers: [{ ...c.peers![0]!, seq: 12 }] }), /altered/],
      ['peers dropped (v2 read as v1)', (c) => ({ ...c, peers: null }), /altered/],
      ['a peer added', (c) => ({ ...c, peers: [...c.peers!, { writer: 'C', seq: 1, hash: 'f'.repeat(64) }] }), /altered/],
    ];
    for (const [name, forge, problem] of forgeries) {
      it(`a checkpoint forged with ${name} fails`, async () => {
        const { db, signedB } = await twoWriters();
        const forged = forge(signedB);
        await db.exec("DELETE FROM audit_checkpoints WHERE writer = 'B'");
        await db.store.insertCheckpoint(forged);
        const report = await verifyTrail(db.store, { publicKeys: keys });
        assert.equal(report.ok, false);
        assert.ok(report.problems.some((p) => p.writer === 'B' && p.kind === 'checkpoint' && problem.test(p.problem)), JSON.stringify(report.problems));
      });
    }

    it('a validly signed checkpoint naming a peer head that never was fails at that writer', async () => {
      const { db, signedB } = await twoWriters();
      const forged = signCheckpoint({ ...signedB, peers: [{ writer: 'A', seq: 13, hash: 'e'.repeat(64) }] }, key);
      await db.exec("DELETE FROM audit_checkpoints WHERE writer = 'B'");
      await db.store.insertCheckpoint(forged);
      const report = await verifyTrail(db.store, { publicKeys: keys });
      assert.ok(report.problems.some((p) => p.writer === 'A' && /not the one writer B's checkpoint/.test(p.problem)), JSON.stringify(report.problems));
    });

    it('the sink file keeps peers; a line whose peers are not a list of heads is refused', async () => {
      const { signedB } = await twoWriters();
      assert.deepEqual(parseCheckpointLines(`${JSON.stringify(signedB)}\n`, 'sink')[0]!.peers, signedB.peers);
      for (const peers of ['x', [{ writer: 1, seq: 1, hash: 'h' }], [{ writer: 'A', seq: 1.5, hash: 'h' }], [null]]) {
        assert.throws(() => parseCheckpointLines(JSON.stringify({ ...signedB, peers }), 'sink'), /line 1 of sink is not a checkpoint/);
      }
    });

    it('verify in pages gives the same answer across page edges', async () => {
      const { db } = await twoWriters();
      const whole = await verifyTrail(db.store, { publicKeys: keys });
      for (const pageSize of [1, 2, 3, 7]) assert.deepEqual(await verifyTrail(db.store, { publicKeys: keys, pageSize }), whole);
      await db.exec("DELETE FROM audit_ledger WHERE writer = 'A' AND seq = 4");
      const broken = await verifyTrail(db.store, { publicKeys: keys });
      for (const pageSize of [1, 3, 4]) assert.deepEqual((await verifyTrail(db.store, { publicKeys: keys, pageSize })).problems, broken.problems);
      assert.equal(broken.firstBreak?.seq, 4);
    });
  });
}

describe('a restarted replica carries on its chain (PostgreSQL)', () => {
  let eng: Engine;
  let db: FreshDb;
  before(async () => {
    eng = await engine('postgres');
    db = await eng.fresh();
  });
  after(async () => {
    await db?.close();
    await eng?.stop();
  });

  async function startTrail(replicaId: string, now: () => number) {
    const trail = new AuditTrail(silent);
    const store = trail.wrap(await db.open());
    await trail.start({ replicaId, config: undefined, baseDir: '.', now, writerLeaseMs: 60_000 });
    return { trail, store };
  }

  it('a clean stop lets the next process take the same chain on; a running one keeps its own', async () => {
    const now = counter();
    const first = await startTrail('rep_one', now);
    const writer = first.trail.writer!;
    await first.trail.noteReload({ version: 1, rules: 1 }, 'rep_one');
    // A second replica running beside it gets a chain of its own.
    const beside = await startTrail('rep_two', now);
    assert.notEqual(beside.trail.writer, writer);
    await beside.trail.noteReload({ version: 1, rules: 1 }, 'rep_two');
    await first.trail.stop();
    const restarted = await startTrail('rep_three', now);
    assert.equal(restarted.trail.writer, writer, 'the stopped chain is carried on');
    await restarted.trail.noteReload({ version: 2, rules: 1 }, 'rep_three');
    const report = await restarted.trail.verify();
    assert.deepEqual(report.problems, []);
    assert.equal(report.writers.length, 2, 'two chains for two replicas, not one per start');
    assert.equal(report.writers.find((w) => w.writer === writer)!.entries, 2);
    await beside.trail.stop();
    await restarted.trail.stop();
  });

  it("a chain whose holder went silent past the lease is taken over; its holder's renewal then fails", async () => {
    let t = 1_900_000_000_000;
    const now = () => t;
    const first = await startTrail('rep_gone', now);
    const writer = first.trail.writer!;
    t += 120_000;
    const next = await startTrail('rep_next', now);
    assert.equal(next.trail.writer, writer);
    assert.equal(await (await db.open()).renewLedgerWriter(writer, 'rep_gone', t, 60_000), false);
    await next.trail.stop();
  });
});
