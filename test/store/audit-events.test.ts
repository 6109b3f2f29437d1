/** audit_events (migration 5) on both engines: write-ahead insert, one completion, newest-first pages and filters. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { newId } from '../../src/util/ids.ts';
import type { AuditEventRow, Store } from '../../src/store/types.ts';
import { ENGINES, type EngineHarness } from './fixtures.ts';

const T0 = 1_700_000_000_000;

function event(at: number, over: Partial<AuditEventRow> = {}): AuditEventRow {
  return {
    id: newId('aud', at),
    at,
    replicaId: 'rep_1',
    actorId: 'usr_alice',
    actorName: 'alice',
    actorKind: 'user',
    credentialId: 'tok_1',
    action: 'createToken',
    target: null,
    outcome: null,
    details: {},
    ...over,
  };
}

const rejectsWithCode = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code);

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine} store: audit events`, () => {
    let harness: EngineHarness;
    let store: Store;

    before(async () => {
      harness = await setup();
      store = await harness.open();
    });
    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });

    it('a write-ahead row reads back with a null outcome, then completes once; a second completion changes nothing', async () => {
      const row = event(T0, { details: { connections: ['openai'], 'ünïcödé': 'ß' } });
      await store.insertAuditEvent(row);
      const [pending] = await store.listAuditEvents({ limit: 1, actor: 'alice', action: 'createToken' });
      assert.deepEqual(pending, row);

      await store.completeAuditEvent(row.id, { outcome: 201, target: 'tok_new', details: { connections: ['openai'], ttlMs: 900_000 } });
      await store.completeAuditEvent(row.id, { outcome: 500, target: 'tok_other', details: { rewritten: true } });
      const [done] = await store.listAuditEvents({ limit: 1, actor: 'alice', action: 'createToken' });
      assert.deepEqual(done, { ...row, outcome: 201, target: 'tok_new', details: { connections: ['openai'], ttlMs: 900_000 } });
    });

    it('completing an event that does not exist is not_found; a duplicate id is a conflict', async () => {
      await rejectsWithCode(store.completeAuditEvent('aud_missing', { outcome: 200, target: null, details: {} }), 'not_found');
      const row = event(T0 + 1, { outcome: 403 });
      await store.insertAuditEvent(row);
      await rejectsWithCode(store.insertAuditEvent(row), 'conflict');
    });

    it('lists newest first, pages with the last id as `before`, and filters by actor name or id and by action', async () => {
      const base = T0 + 10_000;
      const rows = [
        event(base + 1, { actorId: 'usr_bob', actorName: 'bob', action: 'revokeToken', outcome: 200 }),
        event(base + 2, { actorId: 'usr_bob', actorName: 'bob', action: 'createToken', outcome: 403 }),
        event(base + 3, { actorId: 'adm_1', actorName: 'admin', actorKind: 'admin', action: 'listSessions', outcome: 200, credentialId: null }),
        event(base + 3, { actorId: 'usr_bob', actorName: 'bob', action: 'putConnection', target: 'billing', outcome: 201 }),
      ];
      // Inserted out of order: the listing orders, not the insert.
      for (const r of [rows[2]!, rows[0]!, rows[3]!, rows[1]!]) await store.insertAuditEvent(r);

      const bob = await store.listAuditEvents({ limit: 10, actor: 'bob' });
      assert.deepEqual(bob.map((r) => r.action), ['putConnection', 'createToken', 'revokeToken']);
      assert.deepEqual(bob[0], rows[3]);
      assert.deepEqual(await store.listAuditEvents({ limit: 10, actor: 'usr_bob' }), bob);

      const first = await store.listAuditEvents({ limit: 2, actor: 'bob' });
      const second = await store.listAuditEvents({ limit: 2, actor: 'bob', before: first.at(-1)!.id });
      assert.equal(first.length, 2);
      assert.deepEqual([...first, ...second], bob);

      assert.deepEqual((await store.listAuditEvents({ limit: 10, action: 'listSessions' })).map((r) => r.actorKind), ['admin']);
      assert.deepEqual(await store.listAuditEvents({ limit: 10, actor: 'bob', action: 'deleteConnection' }), []);
      // Filters are values, never SQL.
      assert.deepEqual(await store.listAuditEvents({ limit: 10, actor: "bob' OR '1'='1" }), []);
      assert.deepEqual(await store.listAuditEvents({ limit: 10, action: '%' }), []);
    });

    it('a limit that is not a positive integer is refused', async () => {
      for (const limit of [0, -1, 1.5, Number.NaN]) await rejectsWithCode(store.listAuditEvents({ limit }), 'invalid_argument');
    });

    it('the table is migration 5 with the columns #16 will chain', async () => {
      const applied = (await harness.query('SELECT version FROM schema_migrations')).map((r) => Number(r.version));
      assert.ok(applied.includes(5));
      const [row] = await harness.query('SELECT * FROM audit_events LIMIT 1');
      assert.deepEqual(Object.keys(row!).sort(), [
        'action', 'actor_id', 'actor_kind', 'actor_name', 'at', 'credential_id', 'details_json', 'id', 'outcome', 'replica_id', 'target',
      ]);
    });
  });
}
