import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { GatewayError } from '../../src/errors.ts';
import { openStore } from '../../src/store/index.ts';
import { MAX_BATCH_CHARS, MAX_BATCH_WRITES } from '../../src/store/postgres-group-commit.ts';
import type { Store } from '../../src/store/types.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { completion, interaction, session } from './fixtures.ts';

describe('postgres group commit', () => {
  let server: PostgresServer;
  let admin: pg.Client;
  let store: Store;

  /** Executions of statements that write the interactions table since the last reset, as the server counted them. */
  async function statementsOnInteractions(): Promise<number> {
    const { rows } = await admin.query<{ calls: string | null }>(
      `SELECT sum(calls) AS calls FROM pg_stat_statements
       WHERE query ILIKE '%INSERT INTO interactions%' OR query ILIKE '%UPDATE interactions%'`,
    );
    return Number(rows[0]?.calls ?? 0);
  }

  async function freshSession(): Promise<string> {
    const s = session();
    await store.insertSession(s);
    await admin.query('SELECT pg_stat_statements_reset()');
    return s.id;
  }

  before(async () => {
    server = await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('CREATE EXTENSION pg_stat_statements');
    store = await openStore({ databaseUrl: server.url });
  });

  after(async () => {
    await store?.close();
    await admin?.end();
    await server?.stop();
  });

  it('concurrent inserts and completions take far fewer statements than writes', async () => {
    const sessionId = await freshSession();
    const rows = Array.from({ length: 60 }, (_, i) => interaction(sessionId, i + 1));
    await Promise.all(rows.map((row) => store.insertInteraction(row)));
    const afterInserts = await statementsOnInteractions();
    assert.ok(afterInserts >= 1 && afterInserts <= 3, `60 inserts took ${afterInserts} statements`);

    await Promise.all(rows.map((row) => store.completeInteraction(row.id, completion())));
    const completions = (await statementsOnInteractions()) - afterInserts;
    assert.ok(completions >= 1 && completions <= 3, `60 completions took ${completions} statements`);
    const stored = await store.listInteractions(sessionId);
    assert.deepEqual(stored.map((r) => r.status), rows.map(() => 'complete'));
  });

  it('no write settles while its batch cannot commit (write-ahead)', async () => {
    const sessionId = await freshSession();
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE interactions IN SHARE MODE');
    const rows = Array.from({ length: 10 }, (_, i) => interaction(sessionId, i + 1));
    let settled = 0;
    const writes = rows.map((row) => store.insertInteraction(row).finally(() => settled++));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(settled, 0, 'a write reported done while the table was locked');
    } finally {
      await admin.query('COMMIT');
    }
    await Promise.all(writes);
    const { rows: visible } = await admin.query('SELECT count(*)::int AS n FROM interactions WHERE session_id = $1', [sessionId]);
    assert.equal(visible[0].n, rows.length);
  });

  it('a batch never exceeds its write cap', async () => {
    const sessionId = await freshSession();
    const rows = Array.from({ length: MAX_BATCH_WRITES + 1 }, (_, i) => interaction(sessionId, i + 1));
    await Promise.all(rows.map((row) => store.insertInteraction(row)));
    assert.equal(await statementsOnInteractions(), 2);
    assert.equal((await store.listInteractions(sessionId)).length, rows.length);
  });

  it('a batch never exceeds its size cap, and a write over the cap still goes alone', async () => {
    const sessionId = await freshSession();
    const body = 'x'.repeat(MAX_BATCH_CHARS / 2 + 1);
    const rows = Array.from({ length: 3 }, (_, i) => interaction(sessionId, i + 1, { requestBody: body }));
    const huge = interaction(sessionId, 4, { requestBody: 'y'.repeat(MAX_BATCH_CHARS + 1) });
    await Promise.all([...rows, huge].map((row) => store.insertInteraction(row)));
    assert.equal(await statementsOnInteractions(), 4);
    assert.equal((await store.getInteraction(huge.id))?.requestBody?.length, MAX_BATCH_CHARS + 1);
  });

  it('a duplicate in a batch is retried alone: only its caller gets conflict', async () => {
    const sessionId = await freshSession();
    const first = interaction(sessionId, 1);
    await store.insertInteraction(first);
    const good = Array.from({ length: 5 }, (_, i) => interaction(sessionId, i + 2));
    const results = await Promise.allSettled([...good, { ...first, id: `${first.id}-again` }].map((r) => store.insertInteraction(r)));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const failure = (results[5] as PromiseRejectedResult).reason;
    assert.ok(failure instanceof GatewayError && failure.code === 'conflict');
    // The server counts statements that succeed: the first insert, then the five good writes, each alone.
    assert.equal(await statementsOnInteractions(), 1 + 5);
    assert.equal((await store.listInteractions(sessionId)).length, 6);
  });

  it('a text JSON cannot carry (a lone surrogate) is retried alone and stored as a write alone stores it', async () => {
    const sessionId = await freshSession();
    const odd = interaction(sessionId, 1, { requestBody: 'half a pair: \ud83d' });
    const plain = interaction(sessionId, 2);
    await Promise.all([store.insertInteraction(odd), store.insertInteraction(plain)]);
    assert.equal((await store.getInteraction(odd.id))?.requestBody, 'half a pair: \ufffd');
    assert.deepEqual(await store.getInteraction(plain.id), plain);
    const alone = interaction(sessionId, 3, { responseBody: '\udc00' });
    await store.insertInteraction(alone);
    assert.equal((await store.getInteraction(alone.id))?.responseBody, '\ufffd');
  });
});

describe('postgres group commit with the database down', () => {
  it('fails every write of a batch with store_unavailable, none reported stored, no secret', async () => {
    const server = await startPostgres();
    const store = await openStore({ databaseUrl: server.url });
    try {
      const s = session();
      await store.insertSession(s);
      await server.stop();
      const results = await Promise.allSettled([
        ...Array.from({ length: 8 }, (_, i) => store.insertInteraction(interaction(s.id, i + 1))),
        store.completeInteraction(interaction(s.id, 9).id, completion()),
      ]);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        const err = (result as PromiseRejectedResult).reason;
        assert.ok(err instanceof GatewayError && err.code === 'store_unavailable', String(err));
        assert.ok(!err.message.includes(server.password));
      }
    } finally {
      await store.close();
      await server.stop();
    }
  });
});
