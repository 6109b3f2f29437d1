/**
 * identity/grant-coverage.ts: what a change of groups takes from a person's grants, which of their
 * agent tokens that cuts, and that the cut goes out as one tokens.revoked event. The rules first,
 * table-driven; then GrantCoverage against a real store, with the events captured.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials, toPrincipal } from '../../src/identity/credentials.ts';
import { GrantCoverage, lostGrants, reachesLost } from '../../src/identity/grant-coverage.ts';
import { accessFor, type RoleGrant } from '../../src/identity/roles.ts';
import { MemoryCoordination, type CoordinationEvent } from '../../src/store/coordination.ts';
import { openStore } from '../../src/store/index.ts';
import type { PrincipalRow, Store } from '../../src/store/types.ts';
import { newId } from '../../src/util/ids.ts';

const GRANTS: RoleGrant[] = [
  { group: 'admins', role: 'admin' },
  { group: 'eng', role: 'user', connections: ['openai', 'db'] },
  { group: 'llm', role: 'user', connections: ['openai'] },
  { group: 'data', role: 'user', connections: ['db', 'warehouse'] },
  { group: 'auditors', role: 'auditor' },
];

const access = (groups: string[]) => accessFor({ kind: 'user', groups }, GRANTS);

describe('lostGrants: what a change of groups took away', () => {
  const cases: [string, string[], string[], { admin: boolean; connections: string[] } | null][] = [
    ['nothing changed', ['eng'], ['eng'], null],
    ['a group added', ['eng'], ['eng', 'data'], null],
    ['a grant-less group removed', ['eng', 'auditors'], ['eng'], null],
    ['a connection still granted by another group', ['eng', 'llm'], ['llm', 'data'], null],
    ['the only granting group removed', ['eng'], [], { admin: false, connections: ['db', 'openai'] }],
    ['one of two connections lost', ['eng'], ['llm'], { admin: false, connections: ['db'] }],
    ['admin lost, user grants kept', ['admins', 'eng'], ['eng'], { admin: true, connections: [] }],
    ['admin lost, nothing left', ['admins'], [], { admin: true, connections: [] }],
    ['admin gained: nothing is lost whatever else went', ['eng'], ['admins'], null],
    ['admin kept', ['admins', 'eng'], ['admins'], null],
    ['groups renamed to look-alikes grant nothing', ['eng'], ['Eng', 'eng '], { admin: false, connections: ['db', 'openai'] }],
  ];
  for (const [name, before, after, expected] of cases) {
    test(name, () => {
      const lost = lostGrants(access(before), access(after));
      assert.deepEqual(lost === null ? null : { admin: lost.admin, connections: [...lost.connections] }, expected);
    });
  }
});

describe('reachesLost: which agent tokens a loss cuts', () => {
  const lostDb = lostGrants(access(['eng']), access(['llm']))!;
  const lostAdmin = lostGrants(access(['admins', 'llm']), access(['llm']))!;
  const cases: [string, string[] | null, typeof lostDb, boolean][] = [
    ['a token for the lost connection', ['db'], lostDb, true],
    ['a token for a kept connection', ['openai'], lostDb, false],
    ['a token for a lost and a kept one', ['openai', 'db'], lostDb, true],
    ['a token an admin issued beyond the grants, for nothing lost', ['reports'], lostDb, false],
    ['a token for any connection (null)', null, lostDb, true],
    ['admin lost: a token for what the grants still cover', ['openai'], lostAdmin, false],
    ['admin lost: a token for what they no longer cover', ['db'], lostAdmin, true],
    ['admin lost: a token for any connection', null, lostAdmin, true],
    ['a token for no connection at all', [], lostDb, false],
  ];
  for (const [name, connections, lost, cut] of cases) {
    test(name, () => assert.equal(reachesLost({ connections }, lost), cut));
  }
});

describe('GrantCoverage against a store', () => {
  let dir: string;
  let store: Store;
  let credentials: Credentials;
  const events: CoordinationEvent[] = [];
  let coverage: GrantCoverage;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-coverage-'));
    store = await openStore({ sqlitePath: join(dir, 'g.db') });
    credentials = new Credentials(store, { defaultTtlMs: 3_600_000, maxTtlMs: 3_600_000, cacheTtlMs: 3_600_000, maxTtlForGroups: () => null });
    const coordination = new MemoryCoordination('rep_test');
    coordination.subscribe((event) => events.push(event));
    coverage = new GrantCoverage({ store, credentials, coordination, roleGrants: () => GRANTS });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function person(name: string, groups: string[]): Promise<PrincipalRow> {
    const row: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups, createdAt: Date.now(), disabledAt: null };
    await store.insertPrincipal(row);
    return row;
  }
  const issue = async (p: PrincipalRow, kind: 'agent' | 'admin' | 'scim', connections: string[] | null, ttlMs = 600_000) =>
    (await credentials.issue({ principal: toPrincipal(p), kind, name: 't', connections, ttlMs })).token;
  const regroup = async (p: PrincipalRow, groups: string[]) => {
    await store.setPrincipalGroups(p.id, groups);
    return { principal: { ...p, groups }, groupsBefore: p.groups };
  };
  const live = async (id: string) => (await store.getToken(id))!.revokedAt === null;

  test('two people lose grants in one change: their tokens are cut and one event names them all', async () => {
    events.length = 0;
    const ann = await person('ann', ['eng']);
    const bo = await person('bo', ['eng', 'llm']);
    const annDb = await issue(ann, 'agent', ['db']);
    const annChild = (await credentials.issue({ principal: toPrincipal(ann), kind: 'agent', name: 'child', connections: ['db'], ttlMs: 600_000, parentId: annDb.id })).token;
    const boDb = await issue(bo, 'agent', ['db']);
    const boOpenai = await issue(bo, 'agent', ['openai']);
    const annApi = await issue(ann, 'admin', null);

    const cuts = await coverage.apply([await regroup(ann, []), await regroup(bo, ['llm'])], 'groups changed over SCIM');
    assert.deepEqual(
      cuts.map((c) => ({ user: c.user, lostAdmin: c.lostAdmin, lostConnections: c.lostConnections, revoked: [...c.revokedTokens].sort() })),
      [
        { user: 'ann', lostAdmin: false, lostConnections: ['db', 'openai'], revoked: [annDb.id, annChild.id].sort() },
        { user: 'bo', lostAdmin: false, lostConnections: ['db'], revoked: [boDb.id] },
      ],
    );
    assert.equal(events.length, 1, 'one event for the whole change');
    const [event] = events;
    assert.ok(event?.type === 'tokens.revoked');
    assert.deepEqual([...event.tokenIds].sort(), [annDb.id, annChild.id, boDb.id].sort());
    assert.equal(event.reason, 'groups changed over SCIM');
    assert.equal(await live(boOpenai.id), true, 'still granted through llm');
    assert.equal(await live(annApi.id), true, 'an API token is not cut: its roles are read on every call');
  });

  test('a change that takes nothing away publishes nothing and cuts nothing', async () => {
    events.length = 0;
    const cy = await person('cy', ['llm']);
    const token = await issue(cy, 'agent', ['openai']);
    assert.deepEqual(await coverage.apply([await regroup(cy, ['llm', 'eng'])], 'r'), []);
    assert.deepEqual(await coverage.apply([], 'r'), []);
    assert.equal(events.length, 0);
    assert.equal(await live(token.id), true);
  });

  test('a loss that reaches no token publishes nothing', async () => {
    events.length = 0;
    const di = await person('di', ['eng']);
    const token = await issue(di, 'agent', ['reports']);
    assert.deepEqual(await coverage.apply([await regroup(di, [])], 'r'), []);
    assert.equal(events.length, 0);
    assert.equal(await live(token.id), true, 'a token an admin issued beyond her grants is an admin’s decision');
  });

  test('a demoted admin: tokens beyond the remaining grants are cut, tokens within them and SCIM tokens stay', async () => {
    events.length = 0;
    const ed = await person('ed', ['admins', 'llm']);
    const anything = await issue(ed, 'agent', null);
    const warehouse = await issue(ed, 'agent', ['warehouse']);
    const openai = await issue(ed, 'agent', ['openai']);
    const scim = await issue(ed, 'scim', null);
    const [cut] = await coverage.apply([await regroup(ed, ['llm'])], 'r');
    assert.equal(cut!.lostAdmin, true);
    assert.deepEqual([...cut!.revokedTokens].sort(), [anything.id, warehouse.id].sort());
    assert.equal(await live(openai.id), true);
    assert.equal(await live(scim.id), true, 'a SCIM token is refused while its creator is no admin, not revoked');
  });

  test('revoked and expired tokens are left as they are; the grants are read when the change is applied', async () => {
    events.length = 0;
    const fi = await person('fi', ['eng']);
    const revoked = await issue(fi, 'agent', ['db']);
    await credentials.revoke(revoked.id);
    const expired = await issue(fi, 'agent', ['db'], 1);
    let grants: RoleGrant[] = GRANTS;
    const reloadable = new GrantCoverage({ store, credentials, coordination: new MemoryCoordination('x'), roleGrants: () => grants, now: () => expired.createdAt + 10 });
    grants = [{ group: 'eng', role: 'user', connections: ['db'] }];
    const liveOne = await issue(fi, 'agent', ['db']);
    const cuts = await reloadable.apply([await regroup(fi, [])], 'r');
    assert.deepEqual(cuts.map((c) => c.revokedTokens), [[liveOne.id]]);
    assert.equal((await store.getToken(expired.id))!.revokedAt, null, 'an expired token is not listed');
  });

  test('a service account or the admin identity loses nothing through groups', async () => {
    const robot: PrincipalRow = { id: newId('sa'), kind: 'service_account', name: 'robot', groups: ['eng'], createdAt: 1, disabledAt: null };
    await store.insertPrincipal(robot);
    const token = await issue(robot, 'agent', ['db']);
    assert.deepEqual(await coverage.apply([await regroup(robot, [])], 'r'), []);
    assert.equal(await live(token.id), true);
  });
});
