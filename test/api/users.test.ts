/**
 * Offboarding a person through the admin API and the CLI: `POST /users/{name}/disable` revokes
 * every token they hold and every token derived from one, disables the service accounts they own
 * with their secrets and exchanged tokens, answers and records what it cut; enable revives nothing;
 * only an admin may do either. Also: SCIM groups give API roles, and a SCIM token dies with the
 * admin who created it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, ROLES_YAML } from '../support/people.ts';
import { okta, scimRequest } from './scim-fixtures.ts';

async function chat(t: TestGateway, token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: response.status, code: ((await response.json()) as any).error?.code };
}

function cli(t: TestGateway, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join('bin', 'gatehouse.js'), ...args], { env: { ...process.env, GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    );
  });
}

describe('users API: disable and enable', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ extraYaml: `${ROLES_YAML}  serviceAccounts: { maxExpiry: 30d }\n` });
  });
  after(() => t.close());

  test('disable cuts her tokens, tokens exchanged from her service accounts, and the accounts; answers and records it', async () => {
    const own = await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'alice', groups: ['engineering'] } });
    const second = await t.api('POST', '/tokens', { connections: ['other'], for: { user: 'alice', groups: [] } });
    const account = await t.api('POST', '/service-accounts', { name: 'alice-ci', owner: 'Alice', connections: ['openai'], expires: '7d' });
    const exchanged = await fetch(`${t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${account.json.secret}`, 'content-type': 'application/json' }, body: '{}' });
    const exchangedToken = ((await exchanged.json()) as any).token as string;
    // An owner must be someone the gateway knows: bob is, once given a token.
    const bobToken = await t.token({ user: 'bob' });
    const othersAccount = await t.api('POST', '/service-accounts', { name: 'bob-ci', owner: 'bob', connections: ['openai'], expires: '7d' });
    for (const token of [own.json.token, exchangedToken, bobToken]) assert.equal((await chat(t, token)).status, 200);

    const shown = (await t.api('GET', '/users/alice')).json;
    assert.deepEqual(shown.tokens.map((x: any) => x.id).sort(), [own.json.id, second.json.id].sort());
    assert.deepEqual(shown.serviceAccounts, [{ name: 'alice-ci', disabledAt: null }], 'owner matched in any case');

    const cut = await t.api('POST', '/users/alice/disable');
    assert.equal(cut.status, 200);
    assert.equal(cut.json.user, 'alice');
    assert.deepEqual(cut.json.disabledServiceAccounts, ['alice-ci']);
    // Her two tokens, the account's secret and the token exchanged from it.
    assert.equal(cut.json.revokedTokens.length, 4);
    for (const id of [own.json.id, second.json.id]) assert.ok(cut.json.revokedTokens.includes(id));

    assert.deepEqual(await chat(t, own.json.token), { status: 401, code: 'auth_revoked' });
    assert.deepEqual(await chat(t, exchangedToken), { status: 401, code: 'auth_revoked' });
    const again = await fetch(`${t.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${account.json.secret}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(again.status, 401);
    assert.equal((await chat(t, bobToken)).status, 200, "bob's token is not hers");
    const accounts = (await t.api('GET', '/service-accounts')).json.serviceAccounts;
    assert.equal(accounts.find((a: any) => a.name === 'bob-ci').disabledAt, null);
    assert.equal(othersAccount.status, 201);

    // A token issued for her after the disable is refused too.
    const late = await t.token({ user: 'alice' });
    assert.deepEqual(await chat(t, late), { status: 401, code: 'auth_revoked' });

    const event = (await t.api('GET', '/audit/events?action=disableUser')).json.events[0];
    assert.equal(event.target, 'alice');
    assert.equal(event.outcome, 200);
    assert.deepEqual(event.details.revokedTokens.sort(), [...cut.json.revokedTokens].sort());
    assert.deepEqual(event.details.disabledServiceAccounts, ['alice-ci']);

    const listed = (await t.api('GET', '/users')).json.users.find((u: any) => u.name === 'alice');
    assert.notEqual(listed.disabledAt, null);
    assert.equal(listed.scim, false);
  });

  test('enable lets her be verified again and revives nothing', async () => {
    await t.token({ user: 'erin' });
    const old = await t.token({ user: 'erin' });
    await t.api('POST', '/service-accounts', { name: 'erin-ci', owner: 'erin', connections: ['openai'], expires: '7d' });
    await t.api('POST', '/users/erin/disable');
    const enabled = await t.api('POST', '/users/erin/enable');
    assert.equal(enabled.status, 200);
    assert.equal(enabled.json.user.disabledAt, null);
    assert.deepEqual(await chat(t, old), { status: 401, code: 'auth_revoked' });
    const accounts = (await t.api('GET', '/service-accounts')).json.serviceAccounts;
    assert.notEqual(accounts.find((a: any) => a.name === 'erin-ci').disabledAt, null, 'the service account stays disabled');
    assert.equal((await chat(t, await t.token({ user: 'erin' }))).status, 200);
  });

  test('unknown names, the admin identity and service accounts are not users to disable', async () => {
    for (const name of ['nobody', 'admin', 'alice-ci', '%00']) {
      const reply = await t.api('POST', `/users/${encodeURIComponent(name)}/disable`);
      assert.equal(reply.status, 404, name);
      assert.equal(reply.json.error.code, 'not_found');
    }
  });

  test('only an admin may disable or enable; an agent token, an auditor and a user are refused', async () => {
    const auditor = await personWithToken(t.gateway.store, 'sam', ['security']);
    const user = await personWithToken(t.gateway.store, 'uma', ['engineering']);
    await t.token({ user: 'victim' });
    for (const [token, code] of [[auditor.token, 'forbidden_role'], [user.token, 'forbidden_role'], [await t.token(), 'auth_wrong_kind']] as const) {
      const reply = await t.api('POST', '/users/victim/disable', undefined, token);
      assert.equal(reply.json.error.code, code);
    }
    assert.equal((await t.api('GET', '/users/victim')).json.user.disabledAt, null);
  });

  test('an admin by group is offboarded like anyone: her API token stops, and so does the SCIM token she created', async () => {
    const root = await personWithToken(t.gateway.store, 'rita', ['platform-admins']);
    const issued = await t.api('POST', '/scim/tokens', { name: 'entra' }, root.token);
    assert.equal(issued.status, 201);
    assert.match(issued.json.token, /^gsc_[0-9A-Za-z]{40}$/);
    assert.equal((await scimRequest(t.url, 'GET', '/Users', undefined, { auth: issued.json.token })).status, 200);
    const cut = await t.api('POST', '/users/rita/disable');
    assert.ok(cut.json.revokedTokens.includes(issued.json.id));
    assert.equal((await t.api('GET', '/users', undefined, root.token)).status, 401);
    assert.equal((await scimRequest(t.url, 'GET', '/Users', undefined, { auth: issued.json.token })).status, 401);
  });

  test('a SCIM group gives the role its name is granted: added, the API opens; removed, it closes', async () => {
    const person = await personWithToken(t.gateway.store, 'pat@example.com', []);
    const scim = (await t.api('POST', '/scim/tokens', { name: 'okta' })).json.token as string;
    const send = (method: string, path: string, body?: unknown) => scimRequest(t.url, method, path, body, { auth: scim });
    const linked = (await send('POST', '/Users', okta.createUser('pat@example.com', '00u-pat'))).json;
    assert.equal(linked.id, person.principal.id);
    assert.equal((await t.api('GET', '/users', undefined, person.token)).json.error.code, 'forbidden_admin');
    const admins = (await send('POST', '/Groups', okta.createGroup('platform-admins'))).json;
    await send('PATCH', `/Groups/${admins.id}`, okta.addMembers([{ id: linked.id, userName: linked.userName }]));
    assert.equal((await t.api('GET', '/users', undefined, person.token)).status, 200);
    await send('PATCH', `/Groups/${admins.id}`, okta.removeMember(linked.id));
    assert.equal((await t.api('GET', '/users', undefined, person.token)).json.error.code, 'forbidden_admin');
  });

  test('gatehouse users and gatehouse scim token, as an operator runs them', async () => {
    await t.token({ user: 'carl' });
    await t.api('POST', '/service-accounts', { name: 'carl-etl', owner: 'carl', connections: ['openai'], expires: '7d' });
    const listed = await cli(t, ['users', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^carl\s/m);
    const shown = await cli(t, ['users', 'show', 'carl']);
    assert.match(shown.stdout, /^user carl \(usr_\w+\)/m);
    assert.match(shown.stdout, /carl-etl/);
    const disabled = await cli(t, ['users', 'disable', 'carl']);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal(disabled.stdout.trim(), 'disabled carl: revoked 2 token(s), disabled service accounts: carl-etl');
    const json = JSON.parse((await cli(t, ['users', 'disable', 'carl', '--json'])).stdout);
    assert.deepEqual(json, { user: 'carl', revokedTokens: [], disabledServiceAccounts: [] });
    assert.match((await cli(t, ['users', 'enable', 'carl'])).stdout, /^enabled carl \(nothing they held before was revived\)$/m);
    const missing = await cli(t, ['users', 'disable', 'nobody']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no user named "nobody"/);

    const created = await cli(t, ['scim', 'token', 'create', '--name', 'okta']);
    assert.equal(created.code, 0, created.stderr);
    const [secret, note] = created.stdout.trim().split('\n');
    assert.match(secret!, /^gsc_[0-9A-Za-z]{40}$/);
    const id = /\(id (tok_\w+);/.exec(note!)![1]!;
    assert.match((await cli(t, ['scim', 'token', 'list'])).stdout, new RegExp(`^${id}\\s+okta\\s`, 'm'));
    assert.match((await cli(t, ['scim', 'token', 'revoke', id])).stdout, new RegExp(`^revoked ${id}$`, 'm'));
    assert.equal((await scimRequest(t.url, 'GET', '/Users', undefined, { auth: secret! })).status, 401);
  });
});
