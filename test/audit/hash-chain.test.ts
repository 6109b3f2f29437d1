import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sealInteraction, verifyChain } from '../../src/audit/hash-chain.ts';
import type { InteractionRow } from '../../src/store/types.ts';
import { OLD_FIRST, OLD_SECOND, oldRowsReadBack } from './old-rows.ts';

/** A completed interaction; prevHash and hash are filled in by chain(). */
function row(seq: number, over: Partial<InteractionRow> = {}): InteractionRow {
  return {
    id: `int_${seq}`, sessionId: 'ses_chain', seq, kind: 'sql.query', status: 'complete', decision: 'allow', rule: 'read-only',
    reason: null, method: null, target: 'SELECT 1', model: null, summary: { sql: { kinds: ['select'], tables: [] } },
    requestBody: 'SELECT 1', responseStatus: null, responseBody: null, errorCode: null, upstreamCode: null, bytesIn: 8,
    bytesOut: 40, startedAt: 1_700_000_000_000 + seq * 10, completedAt: 1_700_000_000_001 + seq * 10, latencyMs: 1,
    prevHash: null, hash: null, ...over,
  };
}

/** Seals rows in order, each on its predecessor, as the recorder does. */
function chain(rows: InteractionRow[]): InteractionRow[] {
  let prevHash: string | null = null;
  return rows.map((r) => {
    const hash = sealInteraction(r, prevHash);
    const sealed = { ...r, prevHash, hash };
    prevHash = hash;
    return sealed;
  });
}

describe('hash chain and upstreamCode', () => {
  it('a row recorded before upstreamCode existed, read back with null, keeps its old hash and its chain verifies', () => {
    const old = oldRowsReadBack();
    assert.equal(sealInteraction(old[0]!, null), OLD_FIRST.hash);
    assert.equal(sealInteraction(old[1]!, OLD_FIRST.hash), OLD_SECOND.hash);
    assert.deepEqual(verifyChain(old), { ok: true, checked: 2, unsealed: 0, problems: [] });
  });

  it('a row built by code that predates the field (upstreamCode undefined) seals like one with null', () => {
    assert.equal(sealInteraction(OLD_FIRST as InteractionRow, null), OLD_FIRST.hash);
  });

  it('upstreamCode is sealed when set: the hash differs from the same row without it', () => {
    const plain = row(1);
    assert.notEqual(sealInteraction(row(1, { upstreamCode: '42P01' }), null), sealInteraction(plain, null));
    assert.notEqual(sealInteraction(row(1, { upstreamCode: '42P01' }), null), sealInteraction(row(1, { upstreamCode: '42P02' }), null));
    // An empty code is still a code, not an absent one.
    assert.notEqual(sealInteraction(row(1, { upstreamCode: '' }), null), sealInteraction(plain, null));
  });

  it('a chain of old rows followed by new ones, some with upstreamCode, verifies', () => {
    const rows = chain([
      row(1),
      row(2, { upstreamCode: '42P01' }),
      row(3, { errorCode: 'skipped' }),
      row(4, { errorCode: 'client_aborted', upstreamCode: '57014' }),
    ]);
    assert.deepEqual(verifyChain(rows), { ok: true, checked: 4, unsealed: 0, problems: [] });
  });

  const tampering: { name: string; edit(rows: InteractionRow[]): void }[] = [
    { name: "changing a new row's upstreamCode", edit: (rows) => (rows[1]!.upstreamCode = '23505') },
    { name: "clearing a new row's upstreamCode", edit: (rows) => (rows[1]!.upstreamCode = null) },
    { name: 'giving a row sealed without one an upstreamCode', edit: (rows) => (rows[0]!.upstreamCode = '42P01') },
    { name: "moving a new row's upstreamCode into errorCode", edit: (rows) => Object.assign(rows[1]!, { errorCode: '42P01', upstreamCode: null }) },
  ];
  for (const t of tampering) {
    it(`${t.name} breaks verification of that row`, () => {
      const rows = chain([row(1), row(2, { upstreamCode: '42P01' }), row(3)]);
      assert.equal(verifyChain(rows).ok, true);
      t.edit(rows);
      const report = verifyChain(rows);
      assert.equal(report.ok, false);
      assert.equal(report.problems.length, 1, report.problems.join('; '));
      assert.match(report.problems[0]!, /was altered after recording/);
    });
  }

  it('editing an old row read back with null still breaks verification', () => {
    const old = oldRowsReadBack();
    old[0] = { ...old[0]!, errorCode: null };
    const report = verifyChain(old);
    assert.equal(report.ok, false);
    assert.match(report.problems.join('; '), /int_old \(seq 1\) was altered/);
  });
});
