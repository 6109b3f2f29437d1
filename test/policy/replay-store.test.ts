/**
 * The store's side of policy replay (Store.listInteractionsBetween) on SQLite: the range is
 * [from, to) on the recorded start time, pages follow the id with nothing lost or repeated (also
 * when many rows share a millisecond or their ids run against their times), and bad bounds are refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { InteractionRow, SessionRow, Store } from '../../src/store/types.ts';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function session(id: string, connection: string): SessionRow {
  return { id, principalId: `usr_${id}`, principalName: id, tokenId: null, connection, protocol: 'http', clientAddr: null, startedAt: T0, endedAt: null, endReason: null, replicaId: null };
}

function interaction(id: string, sessionId: string, seq: number, startedAt: number): InteractionRow {
  return {
    id, sessionId, seq, kind: 'llm.chat', status: 'complete', decision: 'allow', rule: 'r', reason: null, method: 'POST', target: '/v1/chat/completions',
    model: null, summary: { entities: [] }, requestBody: null, responseStatus: 200, responseBody: null, errorCode: null, upstreamCode: null,
    bytesIn: 0, bytesOut: 0, startedAt, completedAt: startedAt, latencyMs: 0, prevHash: null, hash: null,
  };
}

describe('Store.listInteractionsBetween', () => {
  let dir: string;
  let store: Store;
  const all: InteractionRow[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-replay-store-'));
    store = openSqliteStore(join(dir, 'g.db'));
    await store.migrate();
    await store.insertSession(session('a', 'openai'));
    await store.insertSession(session('b', 'prod-db'));
    // 120 rows: 40 in one millisecond, and ids whose order runs against their start times.
    for (let i = 0; i < 120; i++) {
      const startedAt = i < 40 ? T0 + 5000 : T0 + 200_000 - i * 1000;
      const row = interaction(`int_${String(i).padStart(5, '0')}`, i % 2 ? 'a' : 'b', Math.floor(i / 2) + 1, startedAt);
      all.push(row);
      await store.insertInteraction(row);
    }
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function pages(filter: { from: number; to: number; connection?: string }, limit: number) {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.listInteractionsBetween({ ...filter, limit, ...(after ? { after } : {}) });
      seen.push(...page.map((r) => r.id));
      if (page.length < limit) return seen;
      after = page.at(-1)!.id;
    }
  }

  it('pages through [from, to) with nothing lost or repeated, whatever the page size', async () => {
    const from = T0 + 5000;
    const to = T0 + 150_000;
    const expected = all.filter((r) => r.startedAt >= from && r.startedAt < to).map((r) => r.id).sort();
    assert.ok(expected.length > 40);
    for (const limit of [1, 7, 40, 1000]) assert.deepEqual(await pages({ from, to }, limit), expected, `limit ${limit}`);
  });

  it('from is inclusive and to exclusive', async () => {
    assert.equal((await pages({ from: T0 + 5000, to: T0 + 5001 }, 100)).length, 40);
    assert.equal((await pages({ from: T0 + 4999, to: T0 + 5000 }, 100)).length, 0);
  });

  it('carries the session caller and connection, and filters on the connection', async () => {
    const rows = await store.listInteractionsBetween({ from: 0, to: T0 * 2, limit: 500, connection: 'openai' });
    assert.equal(rows.length, 60);
    assert.ok(rows.every((r) => r.session.connection === 'openai' && r.session.principalName === 'a' && r.sessionId === 'a'));
    assert.deepEqual(await store.listInteractionsBetween({ from: 0, to: T0 * 2, limit: 500, connection: "openai' OR '1'='1" }), []);
  });

  for (const [name, filter] of [
    ['a zero limit', { from: 0, to: 1, limit: 0 }],
    ['a fractional limit', { from: 0, to: 1, limit: 1.5 }],
    ['a negative from', { from: -1, to: 1, limit: 1 }],
    ['an infinite to', { from: 0, to: Infinity, limit: 1 }],
    ['NaN', { from: NaN, to: 1, limit: 1 }],
  ] as const) {
    it(`refuses ${name}`, async () => {
      await assert.rejects(store.listInteractionsBetween(filter), { code: 'invalid_argument' });
    });
  }
});
