/**
 * Admin actions recorded with who made them (audit/admin-actions.ts): through a real gateway for
 * what is recorded and what never is (secrets), and through the API on a store that fails, for
 * the write-ahead promise: an action the store cannot record is not carried out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { Writable } from 'node:stream';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, ROLES_YAML, type Person } from '../support/people.ts';
import { API_PREFIX, registerApi, type ApiDeps } from '../../src/api/server.ts';
import { BREAK_GLASS_TOKEN_NAMES } from '../../src/audit/admin-actions.ts';
import { StoreError } from '../../src/errors.ts';
import { bootstrapAdmin } from '../../src/identity/bootstrap.ts';
import { Credentials } from '../../src/identity/credentials.ts';
import { ServiceAccounts } from '../../src/identity/service-accounts.ts';
import { ConnectionRegistry } from '../../src/connections/registry.ts';
import { MemoryCoordination } from '../../src/store/coordination.ts';
import { openStore } from '../../src/store/index.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import type { AuditEventRow, Store } from '../../src/store/types.ts';
import { parseConfig } from '../../src/config/load.ts';

const MAIN = resolve('src/cli/main.ts');

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

describe('admin actions through a running gateway', () => {
  let t: TestGateway;
  let pat: Person;
  let auditor: Person;
  let alice: Person;
  /** Every secret this suite hands the gateway or is handed by it: none may reach an audit row. */
  const secrets: string[] = [ADMIN_TOKEN];

  before(async () => {
    t = await startTestGateway({ extraYaml: ROLES_YAML });
    pat = await personWithToken(t.gateway.store, 'pat-platform', ['platform-admins']);
    auditor = await personWithToken(t.gateway.store, 'sam-security', ['security']);
    alice = await personWithToken(t.gateway.store, 'alice', ['engineering']);
    secrets.push(pat.token, auditor.token, alice.token);
  });
  after(() => t.close());

  const events = async (query: string, token = ADMIN_TOKEN): Promise<AuditEventRow[]> => {
    const { status, json } = await t.api('GET', `/audit/events?${query}`, undefined, token);
    assert.equal(status, 200, JSON.stringify(json));
    return json.events;
  };
  const latest = async (actor: string, action: string) => (await events(`actor=${actor}&action=${action}&limit=1`))[0];

  test('each admin action is recorded with who did it, what it touched and how it ended', async () => {
    const credential = `sk-conn-${randomBytes(12).toString('hex')}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    secrets.push(credential, password);

    const issued = await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'bob', groups: ['engineering'] } }, pat.token);
    assert.equal(issued.status, 201);
    secrets.push(issued.json.token);
    assert.equal((await t.api('DELETE', `/tokens/${issued.json.id}`, undefined, pat.token)).status, 200);
    const put = await t.api('PUT', '/connections/billing', { type: 'http', upstream: `https://svc:${password}@billing.test`, credential }, pat.token);
    assert.equal(put.status, 201, JSON.stringify(put.json));
    assert.equal((await t.api('DELETE', '/connections/billing', undefined, pat.token)).status, 204);
    const account = await t.api('POST', '/service-accounts', { name: 'nightly', owner: 'alice', connections: ['openai'], expires: '7d' }, pat.token);
    assert.equal(account.status, 201);
    secrets.push(account.json.secret);
    assert.equal((await t.api('DELETE', '/service-accounts/nightly', undefined, pat.token)).status, 200);
    const revoked = await t.api('POST', '/principals/bob/revoke', undefined, pat.token);
    assert.equal(revoked.status, 200);

    const mine = await events('actor=pat-platform&limit=100');
    assert.deepEqual(
      mine.map((e) => [e.action, e.target, e.outcome]),
      [
        ['revokePrincipal', 'bob', 200],
        ['disableServiceAccount', 'nightly', 200],
        ['createServiceAccount', 'nightly', 201],
        ['deleteConnection', 'billing', 204],
        ['putConnection', 'billing', 201],
        ['revokeToken', issued.json.id, 200],
        ['createToken', issued.json.id, 201],
      ],
    );
    for (const e of mine) {
      assert.equal(e.actorName, 'pat-platform');
      assert.equal(e.actorKind, 'user');
      assert.equal(e.actorId, pat.principal.id);
      assert.equal(e.credentialId, pat.tokenId);
      assert.match(e.replicaId ?? '', /^rep_/);
      assert.match(e.id, /^aud_/);
    }
    const byAction = Object.fromEntries(mine.map((e) => [e.action, e.details]));
    assert.deepEqual(byAction.createToken!.connections, ['openai']);
    assert.equal(byAction.createToken!.principal, 'bob');
    assert.deepEqual(byAction.revokeToken, { revoked: [issued.json.id] });
    assert.deepEqual(byAction.putConnection, { type: 'http', replaced: false, credentialSent: true });
    assert.equal((byAction.disableServiceAccount!.revoked as string[]).length, 1, 'the account’s secret');
    assert.equal(byAction.revokePrincipal!.kind, 'user');
  });

  test('a refused action is recorded: a role check, a user beyond its grants, a request that does not validate', async () => {
    assert.equal((await t.api('POST', '/tokens', { connections: ['openai'] }, auditor.token)).status, 403);
    const refused = await latest('sam-security', 'createToken');
    assert.equal(refused?.outcome, 403);
    assert.deepEqual(refused?.details, { error: 'forbidden_role', allowed: ['admin', 'user'], held: ['auditor'] });

    assert.equal((await t.api('POST', '/tokens', { connections: ['openai'], for: { user: 'pat-platform' } }, alice.token)).status, 403);
    assert.equal((await latest('alice', 'createToken'))?.outcome, 403);
    // Reads refused by a role check are kept too: probing is worth knowing about.
    assert.equal((await t.api('GET', '/service-accounts', undefined, alice.token)).status, 403);
    assert.equal((await latest('alice', 'listServiceAccounts'))?.outcome, 403);

    assert.equal((await t.api('PUT', '/connections/Not_Valid', { type: 'http', upstream: 'https://x.test' }, pat.token)).status, 400);
    const invalid = await latest('pat-platform', 'putConnection');
    assert.equal(invalid?.outcome, 400);
    assert.equal(invalid?.details.error, 'invalid_argument');
  });

  test('the break-glass token’s every use is recorded, reads included; another admin’s reads are not', async () => {
    assert.equal((await t.api('GET', '/sessions?limit=3')).status, 200);
    const glass = await latest('admin', 'listSessions');
    assert.equal(glass?.actorKind, 'admin');
    assert.equal(glass?.outcome, 200);
    const bootstrapToken = await t.gateway.store.getToken(glass!.credentialId!);
    assert.ok(BREAK_GLASS_TOKEN_NAMES.includes(bootstrapToken!.name));

    assert.equal((await t.api('GET', '/sessions?limit=3', undefined, pat.token)).status, 200);
    assert.equal(await latest('pat-platform', 'listSessions'), undefined);
    // Reading the audit log with it is a use too: the newest read is this one, still running, so unfinished.
    const reads = await events('actor=admin&action=listAuditEvents&limit=2');
    assert.deepEqual(reads.map((e) => e.outcome), [null, 200]);
  });

  test('a caller nobody knows leaves no row: the table cannot be filled without a valid token', async () => {
    const before = (await events('limit=1000')).length;
    for (const token of ['', 'gta_nope', `gta_${'x'.repeat(40)}`, 'Bearer', 'gth_abc']) {
      const result = await t.api('POST', '/tokens', { connections: ['openai'] }, token);
      assert.equal(result.status, 401);
    }
    // +1: the listing below is the break-glass token's read of the one above.
    assert.equal((await events('limit=1000')).length, before + 1);
  });

  test('a secret pasted where an id belongs is not kept as the target', async () => {
    const agent = (await t.api('POST', '/tokens', { connections: ['openai'] }, pat.token)).json.token as string;
    secrets.push(agent);
    assert.equal((await t.api('DELETE', `/tokens/${agent}`, undefined, pat.token)).status, 404);
    const row = await latest('pat-platform', 'revokeToken');
    assert.equal(row?.outcome, 404);
    assert.match(row?.target ?? '', /a secret was sent where an id belongs/);
  });

  test('hostile audit queries are refused or match nothing; paging with `before` walks every event once', async () => {
    for (const query of ['limit=0', 'limit=-1', 'limit=abc', 'limit=100000', 'limit=1.5', 'verbose=true', 'before=', `actor=${'a'.repeat(300)}`]) {
      const { status, json } = await t.api('GET', `/audit/events?${query}`);
      assert.equal(status, 400, query);
      assert.equal(json.error.code, 'invalid_argument');
    }
    assert.deepEqual(await events(`actor=${encodeURIComponent("pat-platform' OR '1'='1")}`), []);
    assert.deepEqual(await events(`action=${encodeURIComponent('%')}`), []);
    assert.deepEqual(await events(`before=${encodeURIComponent("aud_' OR 1=1 --")}&actor=pat-platform`), []);

    const all = await events('actor=pat-platform&limit=1000');
    const paged: AuditEventRow[] = [];
    let cursor = '';
    for (;;) {
      const page = await events(`actor=pat-platform&limit=3${cursor ? `&before=${cursor}` : ''}`);
      paged.push(...page);
      if (page.length < 3) break;
      cursor = page.at(-1)!.id;
    }
    assert.deepEqual(paged.map((e) => e.id), all.map((e) => e.id));
  });

  test('gatehouse audit events lists them, as JSON or a table, filtered by actor and action', async () => {
    const env = { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: auditor.token, XDG_CONFIG_HOME: t.dir };
    const json = await gatehouse(['audit', 'events', '--json', '--actor', 'pat-platform', '--action', 'createServiceAccount', '--limit', '5'], env);
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as AuditEventRow[];
    assert.deepEqual(listed.map((e) => [e.actorName, e.action, e.target]), [['pat-platform', 'createServiceAccount', 'nightly']]);
    const human = await gatehouse(['audit', 'events', '--actor', 'pat-platform', '--limit', '3'], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^AT\s+ACTOR\s+ACTION\s+TARGET\s+OUTCOME\s+ID$/m);
    assert.match(human.stdout, /pat-platform \(user\)/);
    const refused = await gatehouse(['audit', 'events'], { ...env, GATEHOUSE_TOKEN: alice.token });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /forbidden_role/);
  });

  test('no audit row holds a secret: issued tokens, service-account secrets, connection credentials, API tokens', async () => {
    // Read behind the API's back, every column of every row.
    const db = new Database(join(t.dir, 'gatehouse.db'), { readonly: true });
    let dump: string;
    try {
      dump = JSON.stringify(db.prepare('SELECT * FROM audit_events').all());
    } finally {
      db.close();
    }
    assert.ok(dump.length > 1000, 'the earlier tests recorded rows');
    for (const secret of secrets) assert.ok(!dump.includes(secret), `an audit row holds a secret (${secret.slice(0, 6)}…)`);
    assert.doesNotMatch(dump, /\b(gth|gts|gta)_[A-Za-z0-9]{20,}/);
    assert.doesNotMatch(dump, /billing\.test/, 'the upstream URL (which may carry a password) is not recorded');
  });
});

describe('the write-ahead promise: an action the store cannot record is not carried out', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let adminToken: string;
  let auditor: Person;
  const failing = { insert: false, complete: false };
  const logged: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-admin-actions-'));
    store = await openStore({ sqlitePath: join(dir, 'gatehouse.db') });
    // The store as the API sees it: the real one, whose audit writes fail on demand.
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'insertAuditEvent' && failing.insert) return async () => Promise.reject(new StoreError('sqlite store unavailable: disk I/O error'));
        if (prop === 'completeAuditEvent' && failing.complete) return async () => Promise.reject(new StoreError('sqlite store unavailable: disk I/O error'));
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const credentials = new Credentials(flaky, { defaultTtlMs: 600_000, maxTtlMs: 3_600_000, cacheTtlMs: 0, maxTtlForGroups: () => null });
    const config = parseConfig(`${ROLES_YAML}\nconnections:\n  - name: openai\n    type: openai\n    upstream: https://api.openai.test\n`, 't.yaml', {});
    adminToken = `gta_${randomBytes(24).toString('hex')}`;
    await bootstrapAdmin(flaky, credentials, adminToken);
    auditor = await personWithToken(store, 'sam-security', ['security']);
    const logger = pino(
      { level: 'error' },
      new Writable({
        write(chunk, _encoding, done) {
          logged.push(String(chunk));
          done();
        },
      }),
    );
    app = Fastify();
    // Only what these routes use; sign-in and workload exchange are not called here.
    const deps: Partial<ApiDeps> = {
      store: flaky,
      credentials,
      serviceAccounts: new ServiceAccounts(flaky, credentials, 30 * 86_400_000),
      coordination: new MemoryCoordination('rep_test'),
      connections: await ConnectionRegistry.create(config.connections, flaky, createSecretBox(randomBytes(32))),
      roleGrants: () => config.identity.roles,
      logger,
    };
    await registerApi(app, deps as ApiDeps);
  });
  after(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, token = adminToken) =>
    app.inject({ method, url: `${API_PREFIX}${url}`, headers: { authorization: `Bearer ${token}` }, ...(body === undefined ? {} : { payload: body as object }) });

  test('recording fails: the mutation answers 503 store_unavailable and changes nothing', async () => {
    failing.insert = true;
    try {
      const issue = await call('POST', '/tokens', { connections: ['openai'] });
      assert.equal(issue.statusCode, 503);
      assert.equal(issue.json().error.code, 'store_unavailable');
      assert.ok(!issue.body.includes('gth_'));
      const put = await call('PUT', '/connections/billing', { type: 'http', upstream: 'https://billing.test' });
      assert.equal(put.statusCode, 503);
      // Break-glass reads are recorded, so they fail closed too; an auditor's read is not an admin action.
      assert.equal((await call('GET', '/sessions')).statusCode, 503);
      assert.equal((await call('GET', '/sessions', undefined, auditor.token)).statusCode, 200);
    } finally {
      failing.insert = false;
    }
    const tokens = await store.listTokens({ includeRevoked: true, includeExpired: true, now: Date.now() });
    assert.deepEqual(tokens.filter((tok) => tok.kind === 'agent'), [], 'no token was issued');
    assert.equal(await store.getConnection('billing'), null, 'no connection was added');
    assert.deepEqual(await store.listAuditEvents({ limit: 10, action: 'createToken' }), []);
  });

  test('completing fails after the action ran: the answer stands, the row stays unfinished, the log says so', async () => {
    failing.complete = true;
    try {
      const issue = await call('POST', '/tokens', { connections: ['openai'] });
      assert.equal(issue.statusCode, 201);
      const [row] = await store.listAuditEvents({ limit: 1, action: 'createToken' });
      assert.equal(row?.outcome, null);
      assert.equal(row?.actorKind, 'admin');
      assert.ok(logged.some((line) => /completing an admin action record failed/.test(line)));
      assert.ok(logged.every((line) => !line.includes(issue.json().token)), 'the log holds no issued token');
    } finally {
      failing.complete = false;
    }
  });
});
