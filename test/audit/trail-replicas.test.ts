/**
 * Two replicas on one PostgreSQL, each appending its own chain under concurrent traffic (and
 * overlapping requests within each): every chain verifies, with no gap and no shared seq.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { chainedStore } from '../../src/audit/chained-store.ts';
import { Checkpointer } from '../../src/audit/checkpoints.ts';
import { Ledger } from '../../src/audit/ledger.ts';
import { Recorder } from '../../src/audit/recorder.ts';
import { verifyTrail } from '../../src/audit/verify-trail.ts';
import type { Store } from '../../src/store/types.ts';
import { ENGINES, type EngineHarness } from '../store/fixtures.ts';
import { counter, newKey } from './trail-support.ts';

const silent = pino({ level: 'silent' });

describe('audit trail: two replicas on one PostgreSQL', () => {
  let db: EngineHarness;
  const stores: Store[] = [];
  before(async () => {
    db = await ENGINES.postgres();
    stores.push(await db.open(), await db.open());
  });
  after(async () => {
    for (const s of stores) await s.close();
    await db?.stopDatabase();
  });

  it('each keeps a valid chain of its own under concurrent traffic', async () => {
    const key = newKey();
    const replicas = await Promise.all(
      stores.map(async (base, i) => {
        const now = counter();
        const ledger = await Ledger.open(base, `rep_${i}`, silent, now);
        const store = chainedStore(base, ledger);
        return { ledger, store, recorder: new Recorder(store, silent, 64 * 1024, now, `rep_${i}`), checkpoints: new Checkpointer({ store, ledger, key, logger: silent, now }) };
      }),
    );
    const work = replicas.flatMap((r) =>
      Array.from({ length: 6 }, async (_, s) => {
        const session = await r.recorder.openSession({ principalId: null, principalName: `agent-${s}`, tokenId: null, connection: 'openai', protocol: 'http', clientAddr: null });
        // Overlapping requests in one session complete in any order.
        await Promise.all(
          Array.from({ length: 5 }, async (_, k) => {
            const open = await r.recorder.open(session.id, { kind: 'llm.chat', decision: 'allow', rule: null, reason: null, method: 'POST', target: '/v1', model: null, summary: {}, requestBody: `${s}.${k}`, bytesIn: 1 }, { redact: (t) => t });
            await open.complete({ status: 'complete', responseStatus: 200, responseBody: 'ok', errorCode: null, bytesOut: 2 });
          }),
        );
        if (s % 2 === 0) await r.checkpoints.checkpoint();
        await r.recorder.endSession(session.id, 'done');
      }),
    );
    await Promise.all(work);
    for (const r of replicas) {
      await r.ledger.settled();
      await r.checkpoints.checkpoint();
    }
    const report = await verifyTrail(stores[0]!, { publicKeys: new Map([[key.keyId, key.publicKey]]) });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.writers.map((w) => [w.writer, w.entries, w.anchoredSeq]), [['rep_0', 6 * 7, 6 * 7], ['rep_1', 6 * 7, 6 * 7]]);
    const rows = await db.query("SELECT writer, COUNT(*) AS n, MAX(seq) AS top FROM audit_ledger GROUP BY writer ORDER BY writer");
    assert.deepEqual(rows.map((r) => [r.writer, Number(r.n), Number(r.top)]), [['rep_0', 42, 42], ['rep_1', 42, 42]]);
  });

  it('a replica restarted under the same writer carries its chain on', async () => {
    const ledger = await Ledger.open(stores[1]!, 'rep_0', silent, counter());
    assert.equal(ledger.position.seq, 42);
    const store = chainedStore(stores[1]!, ledger);
    await new Recorder(store, silent, 1024, counter(), 'rep_0').openSession({ principalId: null, principalName: 'x', tokenId: null, connection: 'openai', protocol: 'http', clientAddr: null });
    await ledger.settled();
    const report = await verifyTrail(stores[1]!);
    assert.deepEqual(report.problems, []);
    assert.equal(report.writers.find((w) => w.writer === 'rep_0')?.entries, 43);
  });
});
