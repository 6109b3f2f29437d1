/**
 * Roles on the admin API, through a real gateway: people whose groups map to roles in
 * identity.roles hold gta_ tokens (made in-process, as a sign-in would leave them); each route
 * lets admin and the roles its `config.allow` names, and a user acts only for itself.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, ROLES_YAML, updatePrincipal, type Person } from '../support/people.ts';
import { API_PREFIX, registerApi, type ApiDeps } from '../../src/api/server.ts';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import { restartRequiredChanges } from '../../src/config/restart-keys.ts';
import { startGateway, type Gateway } from '../../src/server.ts';

/** Who may call each route of the API (admin always may). A route missing here is admin only. */
const EXPECTED_ALLOW: Record<string, readonly string[]> = {
  whoami: ['approver', 'auditor', 'user'],
  listConnections: ['approver'],
  getConnection: ['approver'],
  putConnection: [],
  deleteConnection: [],
  createToken: ['user'],
  listTokens: ['user'],
  revokeToken: ['user'],
  createServiceAccount: [],
  listServiceAccounts: [],
  disableServiceAccount: [],
  revokePrincipal: [],
  listSessions: ['approver', 'auditor'],
  getSession: ['approver', 'auditor'],
  listAuditEvents: ['auditor'],
  verifyAuditTrail: ['auditor'],
  getAuditPublicKey: ['auditor'],
  listApprovals: ['approver', 'auditor', 'user'],
  getApproval: ['approver', 'auditor', 'user'],
  approveApproval: ['approver'],
  denyApproval: ['approver'],
  // Anyone with a role asks for access and reads their own requests; revoking another person's grant is checked in the handler (approver or admin).
  createAccessRequest: ['approver', 'auditor', 'user'],
  listAccessRequests: ['approver', 'auditor', 'user'],
  getAccessRequest: ['approver', 'auditor', 'user'],
  revokeAccessGrant: ['approver', 'auditor', 'user'],
};

test('each route declares the roles the issue gives it; routes without a list are admin only', async () => {
  const app = Fastify();
  const seen: Record<string, readonly string[]> = {};
  app.addHook('onRoute', (route) => {
    const id = (route.schema as { operationId?: string } | undefined)?.operationId;
    if (id && id in EXPECTED_ALLOW) seen[id] = [...((route.config as { allow?: string[] } | undefined)?.allow ?? [])].sort();
  });
  await registerApi(app, {} as ApiDeps);
  await app.close();
  assert.deepEqual(seen, Object.fromEntries(Object.entries(EXPECTED_ALLOW).map(([id, roles]) => [id, [...roles].sort()])));
});

describe('roles through a running gateway', () => {
  let t: TestGateway;
  let auditor: Person;
  let approver: Person;
  let alice: Person;
  let bob: Person;
  let secondAdmin: Person;
  let nobody: Person;
  let sessionId: string;

  before(async () => {
    t = await startTestGateway({ extraYaml: ROLES_YAML });
    const store = t.gateway.store;
    auditor = await personWithToken(store, 'sam-security', ['security']);
    approver = await personWithToken(store, 'olga-oncall', ['oncall']);
    alice = await personWithToken(store, 'alice', ['engineering']);
    bob = await personWithToken(store, 'bob', ['engineering']);
    secondAdmin = await personWithToken(store, 'pat-platform', ['platform-admins']);
    nobody = await personWithToken(store, 'mallory', ['marketing', 'Platform-Admins', 'admin']);
    // One recorded session for the readers.
    const agent = await t.token();
    const chat = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200);
    await chat.arrayBuffer();
    sessionId = (await t.api('GET', '/sessions')).json.sessions[0].id;
  });
  after(() => t.close());

  const refusedWith = (result: { status: number; json: any }, code: string) => {
    assert.equal(result.status, 403, JSON.stringify(result.json));
    assert.equal(result.json.error.code, code);
    assert.equal(result.json.error.type, 'permission_error');
  };

  test('whoami names each caller’s roles as its groups give them now', async () => {
    assert.deepEqual((await t.api('GET', '/whoami', undefined, auditor.token)).json.roles, ['auditor']);
    assert.deepEqual((await t.api('GET', '/whoami', undefined, alice.token)).json.roles, ['user']);
    assert.deepEqual((await t.api('GET', '/whoami', undefined, secondAdmin.token)).json.roles, ['admin']);
    assert.deepEqual((await t.api('GET', '/whoami')).json.roles, ['admin']);
  });

  test('an auditor cannot issue tokens (forbidden_role, naming who may) but can read sessions and the audit log', async () => {
    const refused = await t.api('POST', '/tokens', { connections: ['openai'] }, auditor.token);
    refusedWith(refused, 'forbidden_role');
    assert.match(refused.json.error.message, /needs the role admin or user; this identity holds auditor/);
    assert.deepEqual(refused.json.error.gatehouse, { allowed: ['admin', 'user'], held: ['auditor'] });

    const sessions = await t.api('GET', '/sessions', undefined, auditor.token);
    assert.equal(sessions.status, 200);
    assert.ok(sessions.json.sessions.some((s: { id: string }) => s.id === sessionId));
    assert.equal((await t.api('GET', `/sessions/${sessionId}`, undefined, auditor.token)).status, 200);
    assert.equal((await t.api('GET', '/audit/events', undefined, auditor.token)).status, 200);
  });

  test('an auditor reads nothing else and changes nothing: tokens, connections, service accounts, offboarding', async () => {
    for (const [method, path, body] of [
      ['GET', '/tokens'],
      ['DELETE', '/tokens/tok_x'],
      ['GET', '/connections'],
      ['GET', '/connections/openai'],
      ['PUT', '/connections/evil', { type: 'http', upstream: 'https://evil.test' }],
      ['DELETE', '/connections/openai'],
      ['GET', '/service-accounts'],
      ['POST', '/service-accounts', { name: 'x', owner: 'y', connections: ['openai'], expires: '1d' }],
      ['POST', '/principals/alice/revoke'],
    ] as const) {
      refusedWith(await t.api(method, path, body, auditor.token), 'forbidden_role');
    }
    assert.equal((await t.api('GET', '/connections/openai')).status, 200, 'the refused DELETE removed nothing');
  });

  test('an approver reads sessions and connections, and issues nothing', async () => {
    assert.equal((await t.api('GET', '/sessions', undefined, approver.token)).status, 200);
    assert.equal((await t.api('GET', '/connections', undefined, approver.token)).status, 200);
    refusedWith(await t.api('POST', '/tokens', { connections: ['openai'] }, approver.token), 'forbidden_role');
    refusedWith(await t.api('GET', '/audit/events', undefined, approver.token), 'forbidden_role');
  });

  test('a user issues a token for itself on a granted connection, and that token works at the proxy', async () => {
    const issued = await t.api('POST', '/tokens', { connections: ['openai'], ttl: '10m' }, alice.token);
    assert.equal(issued.status, 201, JSON.stringify(issued.json));
    assert.equal(issued.json.principal, 'alice');
    const chat = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${issued.json.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'from alice' }] }),
    });
    assert.equal(chat.status, 200);
    await chat.arrayBuffer();
    // Naming itself in `for` is the same as leaving it out.
    assert.equal((await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'alice' } }, alice.token)).status, 201);
  });

  test('a user cannot issue for another user, give itself groups, or reach a connection outside its grants', async () => {
    const forOther = await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'bob' } }, alice.token);
    refusedWith(forOther, 'forbidden_role');
    assert.match(forOther.json.error.message, /only for themselves/);
    refusedWith(await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'brand-new-user' } }, alice.token), 'forbidden_role');
    refusedWith(await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'alice', groups: ['platform-admins'] } }, alice.token), 'forbidden_role');
    refusedWith(await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'Alice' } }, alice.token), 'forbidden_role');

    const outside = await t.api('POST', '/tokens', { connections: ['openai', 'other'] }, alice.token);
    refusedWith(outside, 'forbidden_role');
    assert.match(outside.json.error.message, /do not cover connection\(s\) other; they cover: analytics-db, openai/);
    // A name that exists nowhere is refused the same way: a user learns nothing of connections outside its grants.
    refusedWith(await t.api('POST', '/tokens', { connections: ['ghost'] }, alice.token), 'forbidden_role');
    // Granted by name but not defined: the ordinary unknown-connection answer.
    const undefinedGranted = await t.api('POST', '/tokens', { connections: ['analytics-db'] }, alice.token);
    assert.equal(undefinedGranted.status, 400);
    assert.equal(undefinedGranted.json.error.code, 'invalid_argument');

    assert.equal(await t.gateway.store.findPrincipal('user', 'brand-new-user'), null, 'no principal was created for the refused call');
  });

  test('a user lists and revokes only its own tokens', async () => {
    const mine = await t.api('POST', '/tokens', { connections: ['openai'] }, bob.token);
    const admins = await t.api('POST', '/tokens', { connections: ['openai'] });
    const listed = await t.api('GET', '/tokens?all=true', undefined, bob.token);
    assert.equal(listed.status, 200);
    assert.ok(listed.json.tokens.length > 0);
    assert.ok(listed.json.tokens.every((tok: { principal: string }) => tok.principal === 'bob'), JSON.stringify(listed.json.tokens));

    const refused = await t.api('DELETE', `/tokens/${admins.json.id}`, undefined, bob.token);
    refusedWith(refused, 'forbidden_role');
    assert.equal((await t.gateway.store.getToken(admins.json.id))!.revokedAt, null, 'the admin’s token is still live');

    const revoked = await t.api('DELETE', `/tokens/${mine.json.id}`, undefined, bob.token);
    assert.equal(revoked.status, 200);
    assert.deepEqual(revoked.json.revoked, [mine.json.id]);
  });

  test('a user is refused on admin-only routes (there is no approval route yet: offboarding and connections stand in)', async () => {
    for (const [method, path, body] of [
      ['POST', '/principals/bob/revoke'],
      ['PUT', '/connections/mine', { type: 'http', upstream: 'https://x.test' }],
      ['DELETE', '/connections/openai'],
      ['POST', '/service-accounts', { name: 'x', owner: 'alice', connections: ['openai'], expires: '1d' }],
      ['GET', '/sessions'],
      ['GET', '/audit/events'],
    ] as const) {
      refusedWith(await t.api(method, path, body, alice.token), 'forbidden_role');
    }
  });

  test('several admins: a person whose group maps to admin may do what the bootstrap admin may', async () => {
    assert.equal((await t.api('PUT', '/connections/pat-made', { type: 'http', upstream: 'https://pat.test' }, secondAdmin.token)).status, 201);
    const forBob = await t.api('POST', '/tokens', { connections: ['other'], for: { user: 'bob' } }, secondAdmin.token);
    assert.equal(forBob.status, 201);
    assert.equal(forBob.json.principal, 'bob');
    assert.equal((await t.api('DELETE', '/connections/pat-made', undefined, secondAdmin.token)).status, 204);
  });

  test('an identity whose groups map to no role is told so (forbidden_admin), whatever look-alike groups it has', async () => {
    const refused = await t.api('GET', '/whoami', undefined, nobody.token);
    refusedWith(refused, 'forbidden_admin');
    assert.match(refused.json.error.message, /identity\.roles/);
    refusedWith(await t.api('POST', '/tokens', { connections: ['openai'] }, nobody.token), 'forbidden_admin');
  });

  test('roles follow the principal’s groups now: a group removed takes the role on the next call, a disabled identity is refused', async () => {
    const carol = await personWithToken(t.gateway.store, 'carol', ['platform-admins']);
    const sqlite = join(t.dir, 'gatehouse.db');
    assert.equal((await t.api('GET', '/service-accounts', undefined, carol.token)).status, 200);
    updatePrincipal(sqlite, carol.principal.id, { groups: ['security'] });
    refusedWith(await t.api('GET', '/service-accounts', undefined, carol.token), 'forbidden_role');
    assert.equal((await t.api('GET', '/sessions', undefined, carol.token)).status, 200);
    updatePrincipal(sqlite, carol.principal.id, { disabledAt: Date.now() });
    const disabled = await t.api('GET', '/sessions', undefined, carol.token);
    assert.equal(disabled.status, 401);
    assert.equal(disabled.json.error.code, 'auth_revoked');
  });

  test('tokens of the wrong kind are not API tokens, whoever holds them', async () => {
    const agent = (await t.api('POST', '/tokens', { connections: ['openai'] }, alice.token)).json.token as string;
    const refused = await t.api('GET', '/whoami', undefined, agent);
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, 'auth_wrong_kind');
  });

  test('/metrics needs the admin role, not just any API token', async () => {
    const get = (token: string) => fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const asUser = await get(alice.token);
    assert.equal(asUser.status, 403);
    assert.equal((await asUser.json()).error.code, 'forbidden_role');
    const asAuditor = await get(auditor.token);
    assert.equal(asAuditor.status, 403);
    await asAuditor.arrayBuffer();
    const asAdmin = await get(secondAdmin.token);
    assert.equal(asAdmin.status, 200);
    await asAdmin.arrayBuffer();
    const asBootstrap = await get(ADMIN_TOKEN);
    assert.equal(asBootstrap.status, 200);
    await asBootstrap.arrayBuffer();
  });

  test('the OpenAPI document still needs no token and says which routes exist', async () => {
    const response = await fetch(`${t.url}${API_PREFIX}/openapi.json`);
    assert.equal(response.status, 200);
    const doc = await response.json();
    assert.ok(doc.paths['/api/v1/audit/events'].get);
  });
});

describe('the bootstrap admin is break-glass', () => {
  let t: TestGateway;
  before(async () => {
    // The config hands the bootstrap admin's own group a lesser role, and no group admin.
    t = await startTestGateway({ extraYaml: 'identity:\n  roles:\n    - group: admins\n      role: auditor\n' });
  });
  after(() => t.close());

  test('it stays admin whatever identity.roles says', async () => {
    assert.deepEqual((await t.api('GET', '/whoami')).json.roles, ['admin']);
    assert.equal((await t.api('PUT', '/connections/glass', { type: 'http', upstream: 'https://glass.test' })).status, 201);
    // A person in that same group gets only what the config grants it.
    const person = await personWithToken(t.gateway.store, 'dana', ['admins']);
    assert.equal((await t.api('PUT', '/connections/glass2', { type: 'http', upstream: 'https://glass.test' }, person.token)).status, 403);
  });
});

describe('identity.roles swaps on reload', () => {
  let dir: string;
  let gateway: Gateway;
  const file = () => join(dir, 'gatehouse.yaml');
  const yaml = (roles: string) => `http:\n  listen: 127.0.0.1:0\nstore:\n  sqlitePath: ${join(dir, 'gatehouse.db')}\nlog:\n  level: silent\n${roles}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-roles-reload-'));
    await writeFile(file(), yaml(''));
    const env = { GATEHOUSE_ADMIN_TOKEN: ADMIN_TOKEN, GATEHOUSE_DATABASE_URL: '' };
    gateway = await startGateway({ config: await loadConfigFile(file(), env), configFile: file(), masterKey: randomBytes(32), env, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await gateway?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const whoami = async (token: string) => {
    const response = await fetch(`${gateway.url}${API_PREFIX}/whoami`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, json: await response.json() };
  };

  test('a grant added to the file applies after a reload, a broken one is refused and the old grants stay, and neither needs a restart', async () => {
    const person = await personWithToken(gateway.store, 'erin', ['security']);
    assert.equal((await whoami(person.token)).status, 403);

    const granted = yaml('identity:\n  roles:\n    - group: security\n      role: auditor\n');
    await writeFile(file(), granted);
    await gateway.reload();
    assert.deepEqual((await whoami(person.token)).json.roles, ['auditor']);

    await writeFile(file(), yaml('identity:\n  roles:\n    - group: security\n      role: Auditor\n'));
    await assert.rejects(gateway.reload(), /identity\.roles\[0\]\.role/);
    assert.deepEqual((await whoami(person.token)).json.roles, ['auditor'], 'the previous grants stay in force');

    const env = {};
    assert.deepEqual(restartRequiredChanges(parseConfig(yaml(''), 'a.yaml', env), parseConfig(granted, 'b.yaml', env)), []);
    assert.deepEqual(
      restartRequiredChanges(parseConfig(granted, 'a.yaml', env), parseConfig(granted.replace('identity:\n', 'identity:\n  cacheTtl: 2s\n'), 'b.yaml', env)),
      ['identity.cacheTtl'],
    );
  });
});
