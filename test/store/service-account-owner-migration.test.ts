/**
 * Migration 11 (service_accounts.owner_id) on a database an older release left behind: built here
 * with every migration before 11, holding an account whose owner is free text. Opening a store
 * adds the column, reads the old account back without an ownerId (offboarding then matches its
 * owner text, as before), stores the ownerId of new accounts, and renames move ownership by id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CREATE_MIGRATIONS_TABLE, INSERT_APPLIED_VERSION, MIGRATIONS } from '../../src/store/migrations.ts';
import { ownedBy } from '../../src/identity/offboarding.ts';
import type { Store } from '../../src/store/types.ts';
import { ENGINES, id, principal, serviceAccount, type EngineHarness } from './fixtures.ts';

const ADDED_IN = 11;
const OLD = { id: 'sa_old_release', name: 'old-release-etl', owner: 'Alice', connections: ['openai'], createdAt: 1_700_000_000_000, expiresAt: 1_800_000_000_000, disabledAt: null };

async function buildOldRelease(harness: EngineHarness): Promise<void> {
  await harness.exec(CREATE_MIGRATIONS_TABLE);
  for (const m of MIGRATIONS.filter((m) => m.version < ADDED_IN)) {
    for (const statement of m.statements) await harness.exec(statement);
    await harness.exec(INSERT_APPLIED_VERSION, [m.version, m.name, 1_700_000_000_000]);
  }
  // The columns as the release before migration 11 wrote them.
  await harness.exec(
    'INSERT INTO service_accounts (id, name, owner, connections_json, created_at, expires_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    [OLD.id, OLD.name, OLD.owner, JSON.stringify(OLD.connections), OLD.createdAt, OLD.expiresAt, null],
  );
}

it('migration 11 only adds owner_id, after every version before it', () => {
  const m = MIGRATIONS.find((x) => x.version === ADDED_IN);
  assert.ok(m);
  assert.ok(m.statements.some((s) => /ALTER TABLE service_accounts ADD COLUMN owner_id TEXT/.test(s)));
  assert.equal(MIGRATIONS.at(-1)!.version >= ADDED_IN, true);
});

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine}: a store opened on a database with service accounts made before owner ids`, () => {
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

    it('applies the migration once, again after a restart', async () => {
      const versions = async () => (await harness.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
      assert.deepEqual(await versions(), MIGRATIONS.map((m) => m.version));
      await store.close();
      store = await harness.open();
      assert.deepEqual(await versions(), MIGRATIONS.map((m) => m.version));
    });

    it('reads the old account back as it was, without an ownerId; its owner text still names its owner', async () => {
      // Migration 19 (agents) gives every credential made before it an agent, named from its id.
      assert.deepEqual(await store.getServiceAccount(OLD.id), { ...OLD, agentId: `agt_${OLD.id}` });
      const alice = principal({ name: 'alice' });
      assert.equal(ownedBy(OLD, alice), true, 'matched in any case, as before');
      assert.equal(ownedBy(OLD, principal({ name: 'alice@corp.com' })), false);
    });

    it('keeps the ownerId of a new account; only that principal owns it', async () => {
      const owner = principal({ name: 'bea' });
      const namesake = principal({ name: 'BEA' });
      const row = serviceAccount({ owner: 'bea', ownerId: owner.id });
      await store.insertServiceAccount(row);
      const back = await store.getServiceAccount(row.id);
      assert.deepEqual(back, row);
      assert.equal(ownedBy(back!, owner), true);
      assert.equal(ownedBy(back!, namesake), false, 'a name matching in another case is someone else');
      assert.ok((await store.listServiceAccounts()).some((a) => a.id === row.id && a.ownerId === owner.id));
    });

    it('a rename moves the owner text of accounts owned by id, and of old accounts by name; nobody else’s', async () => {
      const carl = principal({ name: 'carl' });
      const other = principal({ name: 'Carl' });
      await store.insertPrincipal(carl);
      await store.insertPrincipal(other);
      const byId = serviceAccount({ owner: 'carl', ownerId: carl.id });
      const othersById = serviceAccount({ owner: 'Carl', ownerId: other.id });
      const byText = serviceAccount({ owner: 'CARL' });
      for (const row of [byId, othersById, byText]) await store.insertServiceAccount(row);
      await store.renamePrincipal(carl.id, 'carl.new');
      assert.equal((await store.getServiceAccount(byId.id))!.owner, 'carl.new');
      assert.equal((await store.getServiceAccount(byText.id))!.owner, 'carl.new');
      assert.equal((await store.getServiceAccount(othersById.id))!.owner, 'Carl', 'the other Carl keeps his');
      assert.equal((await store.getServiceAccount(othersById.id))!.ownerId, other.id);
    });

    it('an owner id is any text the store is handed; the row is read back exactly', async () => {
      for (const ownerId of ["usr_x'; DROP TABLE service_accounts; --", 'ü'.repeat(300), id('usr')]) {
        const row = serviceAccount({ ownerId });
        await store.insertServiceAccount(row);
        assert.deepEqual(await store.getServiceAccount(row.id), row);
      }
    });
  });
}
