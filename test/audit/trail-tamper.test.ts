/**
 * Tampering with stored audit events directly in the database (SQLite and PostgreSQL): each change,
 * deletion (middle and tail) or reordering makes verify fail at that event, naming writer and seq.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { entryHash } from '../../src/audit/canonical.ts';
import { sealInteraction } from '../../src/audit/hash-chain.ts';
import { sha256Hex } from '../../src/audit/retention-bodies.ts';
import { verifyTrail, type TrailBreak } from '../../src/audit/verify-trail.ts';
import type { Store } from '../../src/store/types.ts';
import { ENGINES, type EngineHarness } from '../store/fixtures.ts';
import { checkpointer, newKey, traffic, type Traffic } from './trail-support.ts';

const key = newKey();
const keys = new Map([[key.keyId, key.publicKey]]);

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`audit trail tampering (${engine})`, () => {
    let db: EngineHarness;
    let store: Store;
    before(async () => {
      db = await ENGINES[engine]();
      store = await db.open();
    });
    after(async () => {
      await store?.close();
      await db?.stopDatabase();
    });

    /** Fresh traffic under its own writer, tampered with, then the first break verify names for that writer. */
    async function tampered(change: (t: Traffic) => Promise<void>, options: { checkpoint?: boolean } = {}): Promise<{ t: Traffic; first: TrailBreak | undefined }> {
      const t = await traffic(store, `w-${randomUUID()}`);
      if (options.checkpoint) assert.ok(await checkpointer(t, key).checkpoint());
      const clean = await verifyTrail(store, { publicKeys: keys });
      assert.equal(clean.problems.filter((p) => p.writer === t.writer).length, 0, 'the untouched chain verifies');
      await change(t);
      const report = await verifyTrail(store, { publicKeys: keys });
      assert.equal(report.ok, false);
      return { t, first: report.problems.find((p) => p.writer === t.writer) };
    }

    it('an untouched trail verifies, checkpoints and all', async () => {
      const t = await traffic(store, `w-${randomUUID()}`);
      await checkpointer(t, key).checkpoint();
      const report = await verifyTrail(store, { publicKeys: keys });
      const mine = report.writers.find((w) => w.writer === t.writer)!;
      assert.equal(mine.entries, 8);
      assert.equal(mine.anchoredSeq, 8);
      assert.deepEqual(report.problems.filter((p) => p.writer === t.writer), []);
    });

    it('a changed interaction response fails at its entry', async () => {
      const { t, first } = await tampered((t) => db.exec('UPDATE interactions SET response_body = ? WHERE id = ?', ['forged', t.interactions[1]!]));
      assert.deepEqual([first?.seq, first?.kind, first?.refId], [3, 'interaction', t.interactions[1]]);
      assert.match(first!.problem, /changed/);
    });

    it('a middle interaction deleted (row only) fails at its entry', async () => {
      const { t, first } = await tampered((t) => db.exec('DELETE FROM interactions WHERE id = ?', [t.interactions[1]!]));
      assert.deepEqual([first?.seq, first?.refId], [3, t.interactions[1]]);
      assert.match(first!.problem, /missing/);
    });

    it('a middle interaction deleted with its ledger entry leaves a gap at its seq', async () => {
      const { first } = await tampered(async (t) => {
        await db.exec('DELETE FROM interactions WHERE id = ?', [t.interactions[1]!]);
        await db.exec('DELETE FROM audit_ledger WHERE writer = ? AND seq = 3', [t.writer]);
      });
      assert.equal(first?.seq, 3);
      assert.match(first!.problem, /missing \(deleted\)/);
    });

    it('the last interaction deleted (row only) fails at its entry, without any checkpoint', async () => {
      const { t, first } = await tampered((t) => db.exec('DELETE FROM interactions WHERE id = ?', [t.interactions[2]!]));
      assert.deepEqual([first?.seq, first?.refId], [4, t.interactions[2]]);
    });

    it('the tail deleted with its ledger entries fails at the checkpoint that signed it', async () => {
      const { first } = await tampered(async (t) => {
        await db.exec('DELETE FROM audit_ledger WHERE writer = ? AND seq >= 7', [t.writer]);
        await db.exec('DELETE FROM audit_events WHERE id = ?', [t.completeEvent]);
      }, { checkpoint: true });
      assert.equal(first?.kind, 'checkpoint');
      assert.equal(first?.seq, 8);
      assert.match(first!.problem, /ends at seq 6: entries after it were deleted/);
    });

    it('two ledger entries swapped fail where the order breaks', async () => {
      const { first } = await tampered(async (t) => {
        await db.exec('UPDATE audit_ledger SET seq = -1 WHERE writer = ? AND seq = 2', [t.writer]);
        await db.exec('UPDATE audit_ledger SET seq = 2 WHERE writer = ? AND seq = 3', [t.writer]);
        await db.exec('UPDATE audit_ledger SET seq = 3 WHERE writer = ? AND seq = -1', [t.writer]);
      });
      assert.equal(first?.seq, 2);
      assert.match(first!.problem, /does not follow|altered/);
    });

    it('two interactions of a session swapped (their seq) fail at the first of them', async () => {
      const { t, first } = await tampered(async (t) => {
        await db.exec('UPDATE interactions SET seq = -1 WHERE id = ?', [t.interactions[0]!]);
        await db.exec('UPDATE interactions SET seq = 1 WHERE id = ?', [t.interactions[1]!]);
        await db.exec('UPDATE interactions SET seq = 2 WHERE id = ?', [t.interactions[0]!]);
      });
      assert.deepEqual([first?.seq, first?.refId], [2, t.interactions[0]]);
    });

    it('a changed session (who it was) fails at its start', async () => {
      const { t, first } = await tampered((t) => db.exec('UPDATE sessions SET principal_name = ? WHERE id = ?', ['mallory', t.sessionId]));
      assert.deepEqual([first?.seq, first?.kind, first?.refId], [1, 'session.start', t.sessionId]);
    });

    it("a changed session end fails at the session's end", async () => {
      const { first } = await tampered((t) => db.exec('UPDATE sessions SET end_reason = ? WHERE id = ?', ['drain', t.sessionId]));
      assert.deepEqual([first?.seq, first?.kind], [8, 'session.end']);
    });

    it("a changed admin action's details fail at its completion", async () => {
      const { t, first } = await tampered((t) => db.exec('UPDATE audit_events SET details_json = ? WHERE id = ?', ['{"n":1}', t.openedEvent]));
      assert.deepEqual([first?.seq, first?.kind, first?.refId], [6, 'audit.complete', t.openedEvent]);
    });

    it("a changed actor fails at the action's first entry", async () => {
      const { t, first } = await tampered((t) => db.exec('UPDATE audit_events SET actor_name = ? WHERE id = ?', ['someone', t.completeEvent]));
      assert.deepEqual([first?.seq, first?.kind, first?.refId], [7, 'audit.event', t.completeEvent]);
    });

    it('a deleted admin action fails at its entry', async () => {
      const { first } = await tampered((t) => db.exec('DELETE FROM audit_events WHERE id = ?', [t.completeEvent]));
      assert.equal(first?.seq, 7);
      assert.match(first!.problem, /missing/);
    });

    it('an outcome set behind the chain (its completion entry removed) is named', async () => {
      const { first } = await tampered(async (t) => {
        await db.exec('DELETE FROM audit_ledger WHERE writer = ? AND seq = 6', [t.writer]);
      });
      assert.equal(first?.seq, 5);
      assert.match(first!.problem, /completed outside the chain/);
    });

    it('an altered ledger entry (its event hash swapped for another) fails at it', async () => {
      const { first } = await tampered((t) => db.exec("UPDATE audit_ledger SET event_hash = 'ab' || substr(event_hash, 3) WHERE writer = ? AND seq = 4", [t.writer]));
      assert.equal(first?.seq, 4);
    });

    it('an entry of an unknown kind inserted at the end is named', async () => {
      const { first } = await tampered(async (t) => {
        const head = (await store.ledgerHead(t.writer))!;
        const base = { writer: t.writer, seq: head.seq + 1, kind: '<script>', refId: '../../etc', eventHash: '00', prevHash: head.hash, at: 1 };
        await db.exec('INSERT INTO audit_ledger (writer, seq, kind, ref_id, event_hash, prev_hash, hash, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [base.writer, base.seq, base.kind, base.refId, base.eventHash, base.prevHash, entryHash(base), base.at]);
      });
      assert.equal(first?.seq, 9);
      assert.match(first!.problem, /unknown entry kind/);
    });

    it('a rewrite that recomputes every hash after the change is caught by the checkpoint', async () => {
      const { first } = await tampered(async (t) => {
        // The attacker knows the formulas: the interaction is resealed and every later entry rebuilt.
        const row = (await store.getInteraction(t.interactions[0]!))!;
        const bodyDigests = { ...row.bodyDigests!, response: { sha256: sha256Hex('forged'), bytes: 6 } };
        const forged = { ...row, responseBody: 'forged', bodyDigests };
        const hash = sealInteraction(forged, row.prevHash);
        await db.exec('UPDATE interactions SET response_body = ?, body_digests_json = ?, hash = ? WHERE id = ?', ['forged', JSON.stringify(bodyDigests), hash, row.id]);
        let prev: string | null = (await store.listLedger(t.writer, 0, 1))[0]!.hash;
        for (const e of await store.listLedger(t.writer, 1, 100)) {
          const base = { ...e, prevHash: prev, eventHash: e.refId === row.id ? hash : e.eventHash };
          const rebuilt = entryHash(base);
          await db.exec('UPDATE audit_ledger SET prev_hash = ?, event_hash = ?, hash = ? WHERE writer = ? AND seq = ?', [prev, base.eventHash, rebuilt, e.writer, e.seq]);
          prev = rebuilt;
        }
      }, { checkpoint: true });
      assert.equal(first?.kind, 'checkpoint');
      assert.match(first!.problem, /not the one the checkpoint signed/);
    });

    it('a checkpoint whose seq was altered fails as altered', async () => {
      const { first } = await tampered((t) => db.exec('UPDATE audit_checkpoints SET seq = 5 WHERE writer = ?', [t.writer]), { checkpoint: true });
      assert.equal(first?.kind, 'checkpoint');
      assert.match(first!.problem, /altered/);
    });

    it('a checkpoint forged with another key fails, while its hash is right', async () => {
      const { first } = await tampered(async (t) => {
        const other = newKey();
        const stored = (await store.lastCheckpoint(t.writer))!;
        const { signCheckpoint } = await import('../../src/audit/checkpoints.ts');
        const forged = signCheckpoint({ ...stored, seq: 9, headHash: 'f'.repeat(64), prevCheckpointHash: stored.hash }, other);
        await store.insertCheckpoint(forged);
      }, { checkpoint: true });
      assert.match(first!.problem, /not among the trusted public keys/);
    });

    it("a checkpoint carrying the real key's id over a forged signature fails", async () => {
      const { first } = await tampered((t) => db.exec('UPDATE audit_checkpoints SET signature = ? WHERE writer = ?', [Buffer.alloc(64, 7).toString('base64'), t.writer]), { checkpoint: true });
      assert.match(first!.problem, /signature does not verify/);
    });

    it('a truncated, non-base64 signature fails, and verify does not throw', async () => {
      const { first } = await tampered((t) => db.exec('UPDATE audit_checkpoints SET signature = ? WHERE writer = ?', ['%%%not base64', t.writer]), { checkpoint: true });
      assert.match(first!.problem, /signature does not verify/);
    });
  });
}
