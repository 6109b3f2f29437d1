/**
 * Migration 3 on a database an older release left behind: built here with migrations 1 and 2 only,
 * holding a session whose interactions were sealed before upstream_code existed. Opening a store
 * must add the column, read the old rows back with null, and leave their chain verifying.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyChain } from '../../src/audit/hash-chain.ts';
import { CREATE_MIGRATIONS_TABLE, INSERT_APPLIED_VERSION, MIGRATIONS } from '../../src/store/migrations.ts';
import { INTERACTION_TYPES } from '../../src/store/rows.ts';
import type { Store } from '../../src/store/types.ts';
import { OLD_FIRST, OLD_SECOND, OLD_SESSION_ID, oldRowsReadBack, type OldRow } from '../audit/old-rows.ts';
import { ENGINES, completion, interaction, type EngineHarness } from './fixtures.ts';

const ADDED_IN = 3;

// The interactions columns as migration 1 created them; written out, not derived, so that this
// stays the old release's insert whatever rows.ts becomes.
const OLD_COLUMNS = [
  'id', 'session_id', 'seq', 'kind', 'status', 'decision', 'rule', 'reason', 'method', 'target', 'model', 'summary_json',
  'request_body', 'response_status', 'response_body', 'error_code', 'bytes_in', 'bytes_out', 'started_at', 'completed_at',
  'latency_ms', 'prev_hash', 'hash',
];

function oldParams(r: OldRow) {
  return [
    r.id, r.sessionId, r.seq, r.kind, r.status, r.decision, r.rule, r.reason, r.method, r.target, r.model,
    JSON.stringify(r.summary), r.requestBody, r.responseStatus, r.responseBody, r.errorCode, r.bytesIn, r.bytesOut,
    r.startedAt, r.completedAt, r.latencyMs, r.prevHash, r.hash,
  ];
}

/** The database as the release before migration 3 left it, with one recorded session. */
async function buildOldRelease(harness: EngineHarness): Promise<void> {
  await harness.exec(CREATE_MIGRATIONS_TABLE);
  for (const m of MIGRATIONS.filter((m) => m.version < ADDED_IN)) {
    for (const statement of m.statements) await harness.exec(statement);
    await harness.exec(INSERT_APPLIED_VERSION, [m.version, m.name, 1_700_000_000_000]);
  }
  await harness.exec(
    `INSERT INTO sessions (id, principal_id, principal_name, token_id, connection, protocol, client_addr, started_at, ended_at, end_reason)
     VALUES (?, NULL, 'alice', NULL, 'prod-db', 'postgres', NULL, 1700000000000, 1700000000100, 'client_closed')`,
    [OLD_SESSION_ID],
  );
  const insert = `INSERT INTO interactions (${OLD_COLUMNS.join(', ')}) VALUES (${OLD_COLUMNS.map(() => '?').join(', ')})`;
  for (const row of [OLD_FIRST, OLD_SECOND]) await harness.exec(insert, oldParams(row));
}

it('the old release’s column list is migration 1’s, and the current one adds upstream_code (then migration 18’s body digests)', () => {
  assert.deepEqual(Object.keys(INTERACTION_TYPES).filter((c) => !OLD_COLUMNS.includes(c)), ['upstream_code', 'body_digests_json', 'bodies_purged_at']);
  assert.deepEqual(OLD_COLUMNS.filter((c) => !(c in INTERACTION_TYPES)), []);
  assert.ok(MIGRATIONS.some((m) => m.version === ADDED_IN && m.statements.some((s) => /upstream_code/.test(s))));
});

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: a store opened on a database recorded before upstream_code`, () => {
    let harness: EngineHarness;
    let store: Store;

    before(async () => {
      harness = await setup();
      await buildOldRelease(harness);
      store = await harness.open();
    });

    after(async () => {
      await store?.close();
      await harness?.stopDatabase();
    });

    it('applies only the new migration and records it once, again after a restart', async () => {
      const versions = async () => (await harness.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.deepEqual(await versions(), MIGRATIONS.map((m) => m.version));
      await store.close();
      store = await harness.open();
      assert.deepEqual(await versions(), MIGRATIONS.map((m) => m.version));
    });

    it('reads the old rows back unchanged, with upstreamCode null, and their chain still verifies', async () => {
      const rows = await store.listInteractions(OLD_SESSION_ID);
      assert.deepEqual(rows, oldRowsReadBack());
      assert.deepEqual(verifyChain(rows), { ok: true, checked: 2, unsealed: 0, problems: [] });
    });

    it('records upstreamCode for new rows in the migrated table', async () => {
      const row = interaction(OLD_SESSION_ID, 3);
      await store.insertInteraction(row);
      const done = completion({ upstreamCode: '42P01' });
      await store.completeInteraction(row.id, done);
      assert.deepEqual(await store.getInteraction(row.id), { ...row, ...done });
      assert.equal((await store.getInteraction(OLD_FIRST.id))?.upstreamCode, null);
    });
  });
}
