/**
 * SCIM 2.0 as Okta and Entra ID drive it, through a real gateway: the request bodies each sends
 * (scim-fixtures.ts), the answers they read (ListResponse paging, SCIM media type, Location), and
 * what each change does to Gatehouse: a deactivation offboards the person with the same cut as
 * `gatehouse users disable`, group membership becomes the person's groups (which policy reads),
 * every change is an admin action on record, and only the admin listener serves /scim/v2.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CUT, ENTERPRISE, ERROR, LIST, USER, entra, okta, scimRequest, startScimGateway, type ScimGateway } from './scim-fixtures.ts';

async function chat(g: ScimGateway, token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${g.t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await response.json()) as any;
  return { status: response.status, code: json.error?.code };
}

const user = async (g: ScimGateway, name: string) => (await g.t.api('GET', `/users/${encodeURIComponent(name)}`)).json.user;

describe('SCIM as Okta sends it', () => {
  let g: ScimGateway;
  before(async () => {
    g = await startScimGateway({ extraYaml: 'identity:\n  cacheTtl: 0s\n' });
  });
  after(() => g.close());

  test('user lifecycle: look up, create, read, update, deactivate (the cut), reactivate', async () => {
    const name = 'test.user@okta.local';
    const lookup = await g.scim('GET', okta.findUser(name));
    assert.equal(lookup.status, 200);
    assert.match(lookup.type!, /^application\/scim\+json/);
    assert.deepEqual(lookup.json, { schemas: [LIST], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    const created = await g.scim('POST', '/Users', okta.createUser(name));
    assert.equal(created.status, 201);
    const id = created.json.id as string;
    assert.equal(created.headers.get('location'), created.json.meta.location);
    assert.equal(created.json.meta.location, `${g.t.gateway.adminUrl}/scim/v2/Users/${id}`);
    assert.equal(created.json.userName, name);
    assert.equal(created.json.active, true);
    assert.equal(created.json.externalId, '00ujl29u0le5T6Aj10h7');
    assert.deepEqual(created.json.name, { givenName: 'Test', familyName: 'User' });
    assert.ok(!('password' in created.json), 'a password is never kept or echoed');

    const found = await g.scim('GET', okta.findUser(name.toUpperCase()));
    assert.equal(found.json.totalResults, 1, 'userName is compared case-insensitively');
    assert.equal(found.json.Resources[0].id, id);
    assert.deepEqual((await g.scim('GET', `/Users/${id}`)).json, { ...created.json });

    const updated = await g.scim('PUT', `/Users/${id}`, okta.updateUser(id, name, 'Renamed'));
    assert.equal(updated.status, 200);
    assert.equal(updated.json.name.familyName, 'Renamed');
    assert.equal(updated.json.displayName, 'Test Renamed');
    assert.deepEqual((await g.scim('PATCH', `/Users/${id}`, okta.passwordSync)).json.active, true, 'a password sync changes nothing');

    // The person works through the gateway, owns a service account, then is deactivated in Okta.
    const token = await g.t.token({ user: name });
    assert.equal((await chat(g, token)).status, 200);
    const account = await g.t.api('POST', '/service-accounts', { name: 'okta-user-etl', owner: name, connections: ['openai'], expires: '7d' });
    assert.equal(account.status, 201);

    const deactivated = await g.scim('PATCH', `/Users/${id}`, okta.deactivate);
    assert.equal(deactivated.status, 200);
    assert.equal(deactivated.json.active, false);
    assert.ok(deactivated.json.schemas.includes(CUT));
    assert.equal(deactivated.json[CUT].revokedTokens.length, 2, "her agent token and the service account's secret");
    assert.deepEqual(deactivated.json[CUT].disabledServiceAccounts, ['okta-user-etl']);
    assert.deepEqual(await chat(g, token), { status: 401, code: 'auth_revoked' });
    assert.notEqual((await user(g, name)).disabledAt, null);
    const exchange = await fetch(`${g.t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${account.json.secret}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(exchange.status, 401, "the service account's secret is refused");

    // Okta repeats the deactivation: nothing is left to cut, and nothing breaks.
    const again = await g.scim('PATCH', `/Users/${id}`, okta.deactivate);
    assert.deepEqual(again.json[CUT], { revokedTokens: [], disabledServiceAccounts: [] });

    const reactivated = await g.scim('PATCH', `/Users/${id}`, okta.reactivate);
    assert.equal(reactivated.json.active, true);
    assert.ok(!reactivated.json.schemas.includes(CUT));
    assert.equal((await user(g, name)).disabledAt, null);
    assert.deepEqual(await chat(g, token), { status: 401, code: 'auth_revoked' }, 'reactivation revives no token');
  });

  test('groups: push, members add and remove, rename, delete; the person’s groups follow', async () => {
    const alice = (await g.scim('POST', '/Users', okta.createUser('alice@okta.local', '00u-alice'))).json;
    const bob = (await g.scim('POST', '/Users', okta.createUser('bob@okta.local', '00u-bob'))).json;
    assert.equal((await g.scim('GET', okta.findGroup('Test SCIMv2'))).json.totalResults, 0);
    const group = await g.scim('POST', '/Groups', okta.createGroup('Test SCIMv2'));
    assert.equal(group.status, 201);
    assert.deepEqual(group.json.members, []);
    const gid = group.json.id as string;

    const added = await g.scim('PATCH', `/Groups/${gid}`, okta.addMembers([{ id: alice.id, userName: alice.userName }, { id: bob.id, userName: bob.userName }]));
    assert.equal(added.status, 200);
    assert.deepEqual(added.json.members.map((m: any) => m.value).sort(), [alice.id, bob.id].sort());
    assert.deepEqual((await user(g, 'alice@okta.local')).groups, ['Test SCIMv2']);
    const aliceView = (await g.scim('GET', `/Users/${alice.id}`)).json;
    assert.deepEqual(aliceView.groups.map((x: any) => x.display), ['Test SCIMv2']);

    const renamed = await g.scim('PATCH', `/Groups/${gid}`, okta.renameGroup(gid, 'Engineering'));
    assert.equal(renamed.json.displayName, 'Engineering');
    assert.equal(renamed.json.id, gid, 'the id in the value is read-only and ignored');
    assert.deepEqual((await user(g, 'bob@okta.local')).groups, ['Engineering']);

    const removed = await g.scim('PATCH', `/Groups/${gid}`, okta.removeMember(bob.id));
    assert.deepEqual(removed.json.members.map((m: any) => m.value), [alice.id]);
    assert.deepEqual((await user(g, 'bob@okta.local')).groups, []);

    const replaced = await g.scim('PATCH', `/Groups/${gid}`, okta.replaceMembers([{ id: bob.id, userName: bob.userName }]));
    assert.deepEqual(replaced.json.members.map((m: any) => m.value), [bob.id]);
    assert.deepEqual((await user(g, 'alice@okta.local')).groups, []);
    assert.deepEqual((await user(g, 'bob@okta.local')).groups, ['Engineering']);

    const put = await g.scim('PUT', `/Groups/${gid}`, { schemas: [group.json.schemas[0]], displayName: 'Engineering', members: [{ value: alice.id }] });
    assert.deepEqual(put.json.members.map((m: any) => m.value), [alice.id]);

    assert.equal((await g.scim('DELETE', `/Groups/${gid}`)).status, 204);
    assert.equal((await g.scim('GET', `/Groups/${gid}`)).status, 404);
    assert.deepEqual((await user(g, 'alice@okta.local')).groups, []);
  });

  test('groups a person had before SCIM stay; only names a SCIM group owns are managed', async () => {
    await g.t.token({ user: 'carol@okta.local', groups: ['from-token', 'Managed'] });
    const carol = (await g.scim('POST', '/Users', okta.createUser('carol@okta.local', '00u-carol'))).json;
    assert.equal((await user(g, 'carol@okta.local')).id, carol.id, 'an existing user is linked, not duplicated');
    await g.scim('POST', '/Groups', okta.createGroup('Managed'));
    // "Managed" is now a SCIM group carol is not a member of: it leaves her groups at her next change.
    const other = (await g.scim('POST', '/Groups', okta.createGroup('Other'))).json;
    await g.scim('PATCH', `/Groups/${other.id}`, okta.addMembers([{ id: carol.id, userName: carol.userName }]));
    assert.deepEqual((await user(g, 'carol@okta.local')).groups, ['from-token', 'Other']);
  });

  // An HTTP session keeps the identity it opened with (pipeline sharedSession), so the test asks with
  // a token issued after each change: what a person's next sign-in or token gets.
  test('group membership feeds policy: a SCIM group the policy names applies to the next token', async () => {
    const h = await startScimGateway({
      extraYaml: 'identity:\n  cacheTtl: 0s\n',
      policyYaml: 'policy:\n  rules:\n    - name: no-contractors\n      action: deny\n      match: { groups: [contractors] }\n    - name: allow-all\n      action: allow\n',
    });
    try {
      const dave = (await h.scim('POST', '/Users', okta.createUser('dave@okta.local', '00u-dave'))).json;
      const next = () => h.t.token({ user: 'dave@okta.local' });
      assert.equal((await chat(h, await next())).status, 200);
      const contractors = (await h.scim('POST', '/Groups', okta.createGroup('contractors'))).json;
      await h.scim('PATCH', `/Groups/${contractors.id}`, okta.addMembers([{ id: dave.id, userName: dave.userName }]));
      assert.deepEqual(await chat(h, await next()), { status: 403, code: 'policy_denied' });
      await h.scim('PATCH', `/Groups/${contractors.id}`, okta.removeMember(dave.id));
      assert.equal((await chat(h, await next())).status, 200);
    } finally {
      await h.close();
    }
  });

  test('paging: startIndex and count over a filtered or full list', async () => {
    for (const n of [1, 2, 3]) await g.scim('POST', '/Users', okta.createUser(`page${n}@okta.local`, `00u-page${n}`));
    const all = (await g.scim('GET', '/Users')).json;
    const first = (await g.scim('GET', '/Users?startIndex=1&count=2')).json;
    const second = (await g.scim('GET', '/Users?startIndex=3&count=2')).json;
    assert.equal(first.totalResults, all.totalResults);
    assert.equal(first.itemsPerPage, 2);
    assert.equal(second.startIndex, 3);
    assert.deepEqual([...first.Resources, ...second.Resources].map((u: any) => u.id), all.Resources.slice(0, 4).map((u: any) => u.id));
    const filtered = (await g.scim('GET', `/Users?filter=${encodeURIComponent('userName sw "page"')}&count=2&startIndex=2`)).json;
    assert.equal(filtered.totalResults, 3);
    assert.deepEqual(filtered.Resources.map((u: any) => u.userName), ['page2@okta.local', 'page3@okta.local']);
  });

  test('every SCIM change is an admin action on record, naming the client and what a disable cut', async () => {
    const events = (await g.t.api('GET', '/audit/events?limit=1000')).json.events as any[];
    const scimEvents = events.filter((e) => e.action.startsWith('scim'));
    assert.ok(scimEvents.length > 10);
    for (const e of scimEvents) assert.equal(e.credentialId, g.tokenId, 'made with the SCIM token');
    const disable = scimEvents.find((e) => e.action === 'scimPatchUser' && e.details.revokedTokens?.length === 2);
    assert.ok(disable, 'the deactivation is recorded with the tokens it revoked');
    assert.equal(disable.target, 'test.user@okta.local');
    assert.deepEqual(disable.details.disabledServiceAccounts, ['okta-user-etl']);
    assert.equal(disable.details.client, 'okta');
    assert.ok(!events.some((e) => e.action === 'scimListUsers'), 'reads are not admin actions');
    assert.ok(!JSON.stringify(events).includes(g.token), 'the SCIM secret is never recorded');
  });
});

describe('SCIM as Entra ID sends it', () => {
  let g: ScimGateway;
  before(async () => {
    g = await startScimGateway();
  });
  after(() => g.close());

  test('test connection, create, query by externalId, multi- and single-valued updates, manager', async () => {
    const probe = await g.scim('GET', entra.testConnection);
    assert.equal(probe.status, 200);
    assert.equal(probe.json.totalResults, 0);

    const created = await g.scim('POST', '/Users', entra.createUser('Test_User_ab6490ee@contoso.com', '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef'));
    assert.equal(created.status, 201);
    const id = created.json.id as string;
    assert.ok(!('roles' in created.json), 'roles are not kept: groups give roles');
    const byExternal = await g.scim('GET', entra.findByExternalId('0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef'));
    assert.deepEqual(byExternal.json.Resources.map((u: any) => u.id), [id]);
    assert.equal((await g.scim('GET', entra.findByExternalId('0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF'))).json.totalResults, 0, 'externalId is case-exact');

    const multi = await g.scim('PATCH', `/Users/${id}`, entra.updateMultiValued);
    assert.equal(multi.status, 200);
    assert.deepEqual(multi.json.emails, [{ primary: true, type: 'work', value: 'updatedEmail@microsoft.com' }]);
    assert.equal(multi.json.name.familyName, 'updatedFamilyName');
    assert.equal((await g.scim('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work"].value eq "updatedemail@microsoft.com"')}`)).json.totalResults, 1);

    // A service account owned under the old name follows the rename.
    await g.t.token({ user: 'Test_User_ab6490ee@contoso.com' });
    await g.t.api('POST', '/service-accounts', { name: 'entra-owned', owner: 'Test_User_ab6490ee@contoso.com', connections: ['openai'], expires: '7d' });
    const renamed = await g.scim('PATCH', `/Users/${id}`, entra.updateUserName('renamed@contoso.com'));
    assert.equal(renamed.json.userName, 'renamed@contoso.com');
    const shown = (await g.t.api('GET', '/users/renamed%40contoso.com')).json;
    assert.equal(shown.user.id, id);
    assert.deepEqual(shown.serviceAccounts.map((a: any) => a.name), ['entra-owned']);

    const manager = (await g.scim('POST', '/Users', entra.createUser('manager@contoso.com', 'ext-manager'))).json;
    const managed = await g.scim('PATCH', `/Users/${id}`, entra.addManager(manager.id));
    assert.deepEqual(managed.json[ENTERPRISE], { manager: { value: manager.id } });
    assert.ok(managed.json.schemas.includes(ENTERPRISE));
  });

  test('groups: create, find without members, add and remove members with $ref null, membership query, rename', async () => {
    const u = (await g.scim('POST', '/Users', entra.createUser('member@contoso.com', 'ext-member'))).json;
    const created = await g.scim('POST', '/Groups', entra.createGroup('Gatehouse Users', '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159'));
    assert.equal(created.status, 201);
    const gid = created.json.id as string;
    const found = await g.scim('GET', entra.findGroup('gatehouse users'));
    assert.equal(found.json.totalResults, 1);
    assert.ok(!('members' in found.json.Resources[0]), 'excludedAttributes=members');

    assert.equal((await g.scim('PATCH', `/Groups/${gid}`, entra.addMembers([u.id]))).status, 200);
    assert.equal((await g.scim('GET', entra.isMember(gid, u.id))).json.totalResults, 1);
    assert.ok(!('members' in (await g.scim('GET', entra.getGroup(gid))).json));
    assert.deepEqual((await user(g, 'member@contoso.com')).groups, ['Gatehouse Users']);

    await g.scim('PATCH', `/Groups/${gid}`, entra.renameGroup('Gatehouse Admins'));
    assert.deepEqual((await user(g, 'member@contoso.com')).groups, ['Gatehouse Admins']);

    assert.equal((await g.scim('PATCH', `/Groups/${gid}`, entra.removeMembers([u.id]))).status, 200);
    assert.equal((await g.scim('GET', entra.isMember(gid, u.id))).json.totalResults, 0);
    assert.deepEqual((await user(g, 'member@contoso.com')).groups, []);
  });

  test('"active": "False" disables with the cut; "True" after it enables; DELETE offboards and unlinks', async () => {
    const u = (await g.scim('POST', '/Users', entra.createUser('leaver@contoso.com', 'ext-leaver'))).json;
    const token = await g.t.token({ user: 'leaver@contoso.com' });
    const disabled = await g.scim('PATCH', `/Users/${u.id}`, entra.disable);
    assert.equal(disabled.status, 200);
    assert.equal(disabled.json.active, false);
    assert.equal(disabled.json[CUT].revokedTokens.length, 1);
    assert.deepEqual(await chat(g, token), { status: 401, code: 'auth_revoked' });
    assert.equal((await g.scim('GET', `/Users?filter=${encodeURIComponent('active eq false')}`)).json.Resources.some((r: any) => r.id === u.id), true);

    assert.equal((await g.scim('PATCH', `/Users/${u.id}`, entra.enable)).json.active, true);
    const again = await g.t.token({ user: 'leaver@contoso.com' });
    assert.equal((await chat(g, again)).status, 200);

    assert.equal((await g.scim('DELETE', `/Users/${u.id}`)).status, 204);
    assert.deepEqual(await chat(g, again), { status: 401, code: 'auth_revoked' });
    assert.equal((await g.scim('GET', `/Users/${u.id}`)).status, 404);
    assert.notEqual((await user(g, 'leaver@contoso.com')).disabledAt, null, 'the person stays, disabled, for the record');
    const recreated = await g.scim('POST', '/Users', entra.createUser('leaver@contoso.com', 'ext-leaver-2'));
    assert.equal(recreated.status, 201);
    assert.equal(recreated.json.id, u.id, 'linked to the same person');
    assert.equal(recreated.json.active, false, 'created again, still disabled until gatehouse users enable');
  });

  test('a routine sync repeating active: true does not undo a disable made in the gateway', async () => {
    const u = (await g.scim('POST', '/Users', entra.createUser('paused@contoso.com', 'ext-paused'))).json;
    assert.equal((await g.t.api('POST', '/users/paused%40contoso.com/disable')).status, 200);
    const synced = await g.scim('PATCH', `/Users/${u.id}`, entra.enable);
    assert.equal(synced.json.active, false);
    assert.equal((await g.scim('PUT', `/Users/${u.id}`, { ...entra.createUser('paused@contoso.com', 'ext-paused'), active: true })).json.active, false);
  });
});

describe('SCIM discovery and where it is served', () => {
  let g: ScimGateway;
  before(async () => {
    g = await startScimGateway({ extraYaml: 'admin:\n  listen: 127.0.0.1:0\n' });
  });
  after(() => g.close());

  test('ServiceProviderConfig, ResourceTypes and Schemas describe what is supported', async () => {
    const config = await g.scim('GET', '/ServiceProviderConfig');
    assert.equal(config.status, 200);
    assert.equal(config.json.patch.supported, true);
    assert.equal(config.json.bulk.supported, false);
    assert.equal(config.json.filter.maxResults, 200);
    assert.equal(config.json.authenticationSchemes[0].type, 'oauthbearertoken');
    const types = (await g.scim('GET', '/ResourceTypes')).json;
    assert.deepEqual(types.Resources.map((r: any) => r.endpoint), ['/Users', '/Groups']);
    assert.equal((await g.scim('GET', '/ResourceTypes/User')).json.schema, USER);
    const schemas = (await g.scim('GET', '/Schemas')).json;
    assert.ok(schemas.Resources.some((s: any) => s.id === USER && s.attributes.some((a: any) => a.name === 'active')));
    assert.equal((await g.scim('GET', `/Schemas/${USER}`)).json.id, USER);
    const missing = await g.scim('GET', '/Schemas/urn:nothing');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json.schemas, [ERROR]);
  });

  test('the data-plane listener does not serve SCIM; the admin listener does', async () => {
    assert.notEqual(g.t.url, g.t.gateway.adminUrl);
    const onDataPlane = await scimRequest(g.t.url, 'GET', '/Users', undefined, { auth: g.token });
    assert.equal(onDataPlane.status, 404);
    assert.equal((await g.scim('GET', '/Users')).status, 200);
  });
});
