/**
 * One pending approval per request of a principal (migration 13), on both engines: a database an
 * older release left with duplicate pending approvals is cleaned (the oldest kept, the others
 * withdrawn) before the unique index is built, and two stores on one database (two replicas)
 * inserting the same request at once store exactly one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CREATE_MIGRATIONS_TABLE, INSERT_APPLIED_VERSION, MIGRATIONS } from '../../src/store/migrations.ts';
import type { ApprovalRow, Store } from '../../src/store/types.ts';
import { ENGINES, id, openTwoStores, type EngineHarness } from './fixtures.ts';

const ADDED_IN = 13;
const T0 = 1_700_000_000_000;

function approval(over: Partial<ApprovalRow> = {}): ApprovalRow {
  return {
    id: id('apr'), createdAt: T0, expiresAt: T0 + 60_000, status: 'pending', fingerprint: 'f'.repeat(64), principalId: 'usr_ada',
    principalName: 'ada', tokenId: 'tok_1', agent: 'ci agent', connection: 'openai', kind: 'llm.chat', rule: 'hold-chat',
    approvers: ['oncall'], required: 1, summary: { prompt: 'drop it' }, decidedAt: null, usedAt: null, replicaId: 'rep_1', ...over,
  };
}

const COLUMNS = 'id, created_at, expires_at, status, fingerprint, principal_id, principal_name, token_id, agent, connection, kind, rule, approvers_json, required, summary_json, decided_at, used_at, replica_id';
const insertOld = (harness: EngineHarness, r: ApprovalRow) =>
  harness.exec(`INSERT INTO approvals (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(', ')})`, [
    r.id, r.createdAt, r.expiresAt, r.status, r.fingerprint, r.principalId, r.principalName, r.tokenId, r.agent, r.connection, r.kind, r.rule,
    JSON.stringify(r.approvers), r.required, JSON.stringify(r.summary), r.decidedAt, r.usedAt, r.replicaId,
  ]);

// What the find-then-insert race of the release before left behind.
const OLDEST = approval({ id: 'apr_0001', createdAt: T0 });
const SAME_TIME_LATER_ID = approval({ id: 'apr_0002', createdAt: T0 });
const NEWER = approval({ id: 'apr_0003', createdAt: T0 + 5 });
const OTHER_PERSON = approval({ id: 'apr_0004', createdAt: T0 + 5, principalId: 'usr_bob', principalName: 'bob' });
const OTHER_REQUEST = approval({ id: 'apr_0005', createdAt: T0 + 5, fingerprint: 'e'.repeat(64) });
const DECIDED = approval({ id: 'apr_0006', createdAt: T0 - 5, status: 'denied', decidedAt: T0 - 1 });

it('migration 13 comes after every version before it and builds a partial unique index', () => {
  const m = MIGRATIONS.find((x) => x.version === ADDED_IN);
  assert.ok(m);
  assert.ok(m.statements.some((s) => /CREATE UNIQUE INDEX approvals_one_pending ON approvals \(principal_id, fingerprint\) WHERE status = 'pending'/.test(s)));
  assert.ok(MIGRATIONS.filter((x) => x.version < ADDED_IN).every((x) => MIGRATIONS.indexOf(x) < MIGRATIONS.indexOf(m)));
});

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: migration 13 on a database holding duplicate pending approvals`, () => {
    let harness: EngineHarness;
    let store: Store;
    before(async () => {
      harness = await setup();
      await harness.exec(CREATE_MIGRATIONS_TABLE);
      for (const m of MIGRATIONS.filter((m) => m.version < ADDED_IN)) {
        for (const statement of m.statements) await harness.exec(statement);
        await harness.exec(INSERT_APPLIED_VERSION, [m.version, m.name, T0]);
      }
      for (const row of [OLDEST, SAME_TIME_LATER_ID, NEWER, OTHER_PERSON, OTHER_REQUEST, DECIDED]) await insertOld(harness, row);
      store = await harness.open();
    });
    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });

    it('keeps the oldest pending approval of each request and withdraws the others; nothing else changes', async () => {
      const status = async (row: ApprovalRow) => (await store.getApproval(row.id))!.status;
      assert.equal(await status(OLDEST), 'pending');
      assert.equal(await status(SAME_TIME_LATER_ID), 'withdrawn', 'same time: the smaller id is kept');
      assert.equal(await status(NEWER), 'withdrawn');
      assert.equal((await store.getApproval(NEWER.id))!.decidedAt, NEWER.createdAt);
      assert.equal(await status(OTHER_PERSON), 'pending', 'another person asking the same is another request');
      assert.equal(await status(OTHER_REQUEST), 'pending');
      assert.deepEqual(await store.getApproval(DECIDED.id), DECIDED);
    });

    it('then holds one pending approval per request: the kept one holds the place', async () => {
      assert.equal((await store.insertPendingApproval(approval())).id, OLDEST.id);
      const versions = (await harness.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.ok(versions.includes(ADDED_IN));
    });
  });

  describe(`${engine}: two stores on one database (two replicas) holding the same request at once`, () => {
    let stores: { a: Store; b: Store };
    openTwoStores(setup, (opened) => (stores = opened));

    it('exactly one pending approval is stored, and both stores return it', async () => {
      for (let round = 0; round < 5; round++) {
        const principalId = id('usr');
        const fingerprint = id('fp');
        const rows = [approval({ principalId, fingerprint }), approval({ principalId, fingerprint }), approval({ principalId, fingerprint }), approval({ principalId, fingerprint })];
        const holders = await Promise.all(rows.map((row, i) => (i % 2 === 0 ? stores.a : stores.b).insertPendingApproval(row)));
        assert.equal(new Set(holders.map((h) => h.id)).size, 1, `round ${round}: one holder`);
        const pending = (await stores.b.listApprovals({ principalId, status: 'pending', limit: 10 })).map((r) => r.id);
        assert.deepEqual(pending, [holders[0]!.id]);
      }
    });
  });
}
