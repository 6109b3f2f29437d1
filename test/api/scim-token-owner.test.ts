/**
 * A gsc_ token acts with the authority of the admin who created it, so it works only while that
 * person is still an admin. The reviewer's attack: pat, an admin by group, makes a SCIM token, is
 * demoted at the identity provider, and provisions herself back into the admin group with the
 * token she kept. Each refusal is a 401 in SCIM's error shape, logged and recorded with whose
 * token it was, and changes nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { personWithToken, ROLES_YAML, updatePrincipal, type Person } from '../support/people.ts';
import { ERROR, GROUP, PATCH_OP, USER, scimRequest, startScimGateway, type ScimGateway } from './scim-fixtures.ts';

describe('a SCIM token stops with its creator’s admin role', () => {
  let g: ScimGateway;
  let pat: Person;
  let gsc: string;
  let gscId: string;
  const S = (method: string, path: string, body?: unknown, token = gsc) => scimRequest(g.t.gateway.adminUrl, method, path, body, { auth: token });
  const roles = async (person: Person) => (await g.t.api('GET', '/whoami', undefined, person.token)).json.roles;
  const db = () => join(g.t.dir, 'gatehouse.db');

  before(async () => {
    g = await startScimGateway({ extraYaml: ROLES_YAML });
    pat = await personWithToken(g.t.gateway.store, 'pat', ['platform-admins']);
    const issued = await g.t.api('POST', '/scim/tokens', { name: 'my-okta' }, pat.token);
    assert.equal(issued.status, 201);
    gsc = issued.json.token;
    gscId = issued.json.id;
  });
  after(() => g.close());

  /** Refused as SCIM refuses an unauthenticated client, with the reason in the detail. */
  function assertRefused(reply: Awaited<ReturnType<typeof S>>): void {
    assert.equal(reply.status, 401, JSON.stringify(reply.json));
    assert.deepEqual(reply.json.schemas, [ERROR]);
    assert.equal(reply.json.status, '401');
    assert.match(reply.json.detail, /no longer holds the admin role/);
    assert.match(reply.json.detail, /gatehouse scim token create/);
    assert.equal(reply.headers.get('www-authenticate'), 'Bearer realm="gatehouse-scim"');
    assert.ok(!reply.json.detail.includes(gsc), 'the token is never echoed');
  }

  test('while pat is an admin her token works', async () => {
    assert.equal((await S('GET', '/Users')).status, 200);
  });

  test('demoted at the identity provider, she cannot provision herself back (the reviewer’s attack)', async () => {
    updatePrincipal(db(), pat.principal.id, { groups: ['engineering'] });
    assert.deepEqual(await roles(pat), ['user']);

    const user = await S('POST', '/Users', { schemas: [USER], userName: 'pat' });
    assertRefused(user);
    const group = await S('POST', '/Groups', { schemas: [GROUP], displayName: 'platform-admins', members: [{ value: pat.principal.id }] });
    assertRefused(group);
    assertRefused(await S('GET', '/Users'));
    assertRefused(await S('GET', '/ServiceProviderConfig'));
    assertRefused(await S('PATCH', `/Users/${pat.principal.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] }));
    assertRefused(await S('DELETE', `/Groups/anything`));

    assert.deepEqual(await roles(pat), ['user'], 'still no admin');
    assert.equal(await g.t.gateway.store.getScimUser(pat.principal.id), null, 'nothing was provisioned');
    assert.deepEqual(await g.t.gateway.store.listScimGroups(), []);

    const logged = g.t.logs.filter((line) => line.includes('SCIM token refused: its creator no longer holds the admin role')).map((line) => JSON.parse(line));
    assert.ok(logged.length >= 1);
    assert.equal(logged[0].tokenId, gscId);
    assert.equal(logged[0].principal, 'pat');
    assert.ok(!g.t.logs.some((line) => line.includes(gsc)), 'the token never reaches the log');

    const events = (await g.t.api('GET', '/audit/events?actor=pat')).json.events.filter((e: any) => e.action === 'scimCreateUser');
    assert.equal(events.length, 1, 'the refused change is on record, as pat’s');
    assert.equal(events[0].outcome, 401);
    assert.equal(events[0].details.error, 'auth_revoked');
    assert.deepEqual({ via: events[0].details.via, client: events[0].details.client }, { via: 'scim', client: 'my-okta' });
  });

  test('the bootstrap admin’s SCIM token is not affected', async () => {
    assert.equal((await g.scim('GET', '/Users')).status, 200);
  });

  test('promoted again, her token works again (it was refused, not revoked)', async () => {
    updatePrincipal(db(), pat.principal.id, { groups: ['platform-admins'] });
    assert.equal((await S('GET', '/Users')).status, 200);
  });

  test('demoted by a SCIM group change made with another client’s token: her token stops at once', async () => {
    const linked = await g.scim('POST', '/Users', { schemas: [USER], userName: 'pat' });
    assert.equal(linked.status, 201);
    const admins = await g.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'platform-admins', members: [{ value: linked.json.id }] });
    assert.equal(admins.status, 201);
    assert.equal((await S('GET', '/Groups')).status, 200);
    await g.scim('PATCH', `/Groups/${admins.json.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${linked.json.id}"]` }] });
    assertRefused(await S('GET', '/Groups'));
    // Nor can she re-add herself.
    assertRefused(await S('PATCH', `/Groups/${admins.json.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: linked.json.id }] }] }));
    assert.equal((await g.t.gateway.store.listScimMemberships({ groupId: admins.json.id })).length, 0);
  });

  test('a role that is not admin is not enough: an auditor’s or approver’s token is refused', async () => {
    for (const groups of [['security'], ['oncall'], ['security', 'oncall', 'engineering']]) {
      const person = await personWithToken(g.t.gateway.store, `someone-${groups.join('-')}`, ['platform-admins']);
      const token = (await g.t.api('POST', '/scim/tokens', { name: 'x' }, person.token)).json.token;
      updatePrincipal(db(), person.principal.id, { groups });
      assertRefused(await S('GET', '/Users', undefined, token));
    }
  });

  test('a disabled creator: refused as disabled', async () => {
    const person = await personWithToken(g.t.gateway.store, 'quinn', ['platform-admins']);
    const token = (await g.t.api('POST', '/scim/tokens', { name: 'x' }, person.token)).json.token;
    updatePrincipal(db(), person.principal.id, { disabledAt: 1 });
    const refused = await S('GET', '/Users', undefined, token);
    assert.equal(refused.status, 401);
    assert.match(refused.json.detail, /disabled/);
  });

  test('a group that only looks like the admin group grants nothing: refused', async () => {
    const person = await personWithToken(g.t.gateway.store, 'rosa', ['platform-admins']);
    const token = (await g.t.api('POST', '/scim/tokens', { name: 'x' }, person.token)).json.token;
    // Groups are compared exactly, as roles.ts compares them.
    updatePrincipal(db(), person.principal.id, { groups: ['Platform-Admins'] });
    assertRefused(await S('GET', '/Users', undefined, token));
  });
});
