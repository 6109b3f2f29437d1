/**
 * The offboarding and SCIM store methods (migration 7) on both engines: disabling keeps the first
 * time, renames carry service-account ownership, userName and displayName collide in any case
 * (Unicode included, the same on SQLite and PostgreSQL), memberships add and remove once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import type { ScimGroupRow, ScimUserRow, Store } from '../../src/store/types.ts';
import { ENGINES, type EngineHarness, id, principal, serviceAccount } from './fixtures.ts';

const rejectsWithCode = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (err: unknown) => err instanceof GatewayError && err.code === code);

function scimUser(principalId: string, over: Partial<ScimUserRow> = {}): ScimUserRow {
  return {
    principalId, userName: id('User'), externalId: id('ext'), active: true,
    attributes: { name: { givenName: 'Ålice' }, emails: [{ value: 'a@example.com', primary: true }] },
    createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000, ...over,
  };
}

function scimGroup(over: Partial<ScimGroupRow> = {}): ScimGroupRow {
  return { id: id('g'), displayName: id('Group'), externalId: null, createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000, ...over };
}

const CASES: { name: string; run(store: Store): Promise<void> }[] = [
  {
    name: 'disablePrincipal keeps the first time; enablePrincipal clears it; unknown ids are not_found',
    async run(store) {
      const p = principal();
      await store.insertPrincipal(p);
      await store.disablePrincipal(p.id, 10);
      await store.disablePrincipal(p.id, 20);
      assert.equal((await store.getPrincipal(p.id))!.disabledAt, 10);
      await store.enablePrincipal(p.id);
      assert.equal((await store.getPrincipal(p.id))!.disabledAt, null);
      await rejectsWithCode(store.disablePrincipal(id('missing'), 1), 'not_found');
      await rejectsWithCode(store.enablePrincipal(id('missing')), 'not_found');
    },
  },
  {
    name: 'setPrincipalGroups replaces the groups',
    async run(store) {
      const p = principal({ groups: ['a'] });
      await store.insertPrincipal(p);
      await store.setPrincipalGroups(p.id, ['x', 'ÿ-group']);
      assert.deepEqual((await store.getPrincipal(p.id))!.groups, ['x', 'ÿ-group']);
    },
  },
  {
    name: 'renamePrincipal moves service-account ownership, matched in any case, and nobody else’s',
    async run(store) {
      const old = id('Alice');
      const p = principal({ name: old });
      await store.insertPrincipal(p);
      const mine = serviceAccount({ owner: old.toUpperCase() });
      const theirs = serviceAccount({ owner: `${old}-other` });
      await store.insertServiceAccount(mine);
      await store.insertServiceAccount(theirs);
      const next = id('alice.renamed');
      await store.renamePrincipal(p.id, next);
      assert.equal((await store.getPrincipal(p.id))!.name, next);
      assert.equal((await store.getServiceAccount(mine.id))!.owner, next);
      assert.equal((await store.getServiceAccount(theirs.id))!.owner, `${old}-other`);
    },
  },
  {
    name: 'SCIM users round-trip; userName is found and collides case-insensitively (non-ASCII too)',
    async run(store) {
      const p = principal();
      await store.insertPrincipal(p);
      const row = scimUser(p.id, { userName: `Ädam-${id('x')}`, active: false });
      await store.insertScimUser(row);
      assert.deepEqual(await store.getScimUser(p.id), row);
      assert.deepEqual(await store.findScimUserByUserName(row.userName.toLowerCase()), row);
      assert.deepEqual(await store.findScimUserByUserName(row.userName.toUpperCase()), row);
      const other = principal();
      await store.insertPrincipal(other);
      await rejectsWithCode(store.insertScimUser(scimUser(other.id, { userName: row.userName.toUpperCase() })), 'conflict');
      const updated = { ...row, userName: `${row.userName}-2`, active: true, externalId: null, attributes: {}, updatedAt: 2 };
      await store.updateScimUser(updated);
      assert.deepEqual(await store.getScimUser(p.id), updated);
      assert.equal(await store.findScimUserByUserName(row.userName), null);
      await rejectsWithCode(store.updateScimUser(scimUser(id('missing'))), 'not_found');
      assert.ok((await store.listScimUsers()).some((u) => u.principalId === p.id));
    },
  },
  {
    name: 'SCIM groups: displayName collides in any case; members add once, remove, and go with the group or the user',
    async run(store) {
      const g = scimGroup({ displayName: `Éng-${id('x')}` });
      await store.insertScimGroup(g);
      assert.deepEqual(await store.getScimGroup(g.id), g);
      assert.deepEqual(await store.findScimGroupByName(g.displayName.toLowerCase()), g);
      await rejectsWithCode(store.insertScimGroup(scimGroup({ displayName: g.displayName.toUpperCase() })), 'conflict');
      const [a, b] = [principal(), principal()];
      for (const p of [a, b]) await store.insertPrincipal(p);
      await store.insertScimUser(scimUser(a.id));
      await store.insertScimUser(scimUser(b.id));
      assert.equal(await store.addScimMembers(g.id, [a.id, b.id, a.id]), 2);
      assert.equal(await store.addScimMembers(g.id, [a.id]), 0);
      assert.deepEqual((await store.listScimMemberships({ groupId: g.id })).map((m) => m.principalId).sort(), [a.id, b.id].sort());
      assert.deepEqual(await store.listScimMemberships({ principalId: a.id }), [{ groupId: g.id, principalId: a.id }]);
      assert.equal(await store.removeScimMembers(g.id, [a.id, id('nobody')]), 1);
      assert.equal(await store.deleteScimUser(b.id), true);
      assert.deepEqual(await store.listScimMemberships({ groupId: g.id }), [], 'a deleted user leaves its groups');
      assert.equal(await store.getScimUser(b.id), null);
      assert.ok(await store.getPrincipal(b.id), 'the principal stays');
      await store.addScimMembers(g.id, [a.id]);
      const renamed = { ...g, displayName: `${g.displayName}-renamed`, externalId: 'ext', updatedAt: 5 };
      await store.updateScimGroup(renamed);
      assert.deepEqual(await store.getScimGroup(g.id), renamed);
      assert.equal(await store.deleteScimGroup(g.id), true);
      assert.equal(await store.deleteScimGroup(g.id), false);
      assert.deepEqual(await store.listScimMemberships({ principalId: a.id }), []);
    },
  },
  {
    name: 'removeScimMembers all empties one group only',
    async run(store) {
      const [g1, g2] = [scimGroup(), scimGroup()];
      await store.insertScimGroup(g1);
      await store.insertScimGroup(g2);
      const p = principal();
      await store.insertPrincipal(p);
      await store.addScimMembers(g1.id, [p.id]);
      await store.addScimMembers(g2.id, [p.id]);
      assert.equal(await store.removeScimMembers(g1.id, 'all'), 1);
      assert.deepEqual(await store.listScimMemberships({ principalId: p.id }), [{ groupId: g2.id, principalId: p.id }]);
    },
  },
];

for (const [engine, setup] of Object.entries(ENGINES)) {
  describe(`${engine} store: offboarding and SCIM`, () => {
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
    for (const c of CASES) it(c.name, () => c.run(store));
  });
}
