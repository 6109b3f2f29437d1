/**
 * SCRAM-SHA-256 towards the client (issue 18, item 4) with real clients and a real database: pg,
 * psql (libpq) and the postgres driver log in with the token as the SCRAM password, the token never
 * crossing the wire; a wrong token, another principal's token, an expired or revoked one are refused
 * as a cleartext login refuses them; a token issued without a verifier still logs in with cleartext;
 * and what the client sent at startup is recorded on its session (item 5), never the token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { CONNECTION, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { Credentials } from '../../src/identity/credentials.ts';
import { ScramLogins } from '../../src/identity/scram-logins.ts';

let g: PgGateway;
let alice: string;
let bob: string;

before(async () => {
  g = await startPgGateway({ postgres: { auth: 'both' } });
  alice = await g.t.token({ connections: [CONNECTION], user: 'alice' });
  bob = await g.t.token({ connections: [CONNECTION], user: 'bob' });
});
after(async () => {
  await g?.close();
});

function pgClient(user: string, password: string, extra: Partial<pg.ClientConfig> = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user, password, ...extra });
}

async function pgLogin(user: string, password: string): Promise<any> {
  const c = pgClient(user, password);
  const asked = askedFor(c);
  const errors: unknown[] = [];
  c.on('error', (err) => errors.push(err));
  try {
    await c.connect();
    return { rows: (await c.query('select 1 as n')).rows, asked: asked.value };
  } catch (err) {
    return { error: err, asked: asked.value };
  } finally {
    await c.end().catch(() => undefined);
    assert.deepEqual(errors, [], 'a refusal reaches connect() only');
  }
}

/** Which authentication request pg received first, read off its connection's events. */
function askedFor(c: pg.Client): { value: 'scram' | 'cleartext' | null } {
  const seen: { value: 'scram' | 'cleartext' | null } = { value: null };
  const connection = (c as any).connection;
  connection.once('authenticationSASL', () => (seen.value ??= 'scram'));
  connection.once('authenticationCleartextPassword', () => (seen.value ??= 'cleartext'));
  return seen;
}

function psql(user: string, password: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) base[k] = v;
  return new Promise((resolve) => {
    execFile(
      join(g.binDir, 'psql'),
      ['-X', '-h', '127.0.0.1', '-p', String(g.port), '-U', user, '-d', CONNECTION, ...args],
      { env: { ...base, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A token issued at `at` (another clock), so it is long expired now. */
async function issuedAt(at: number, user: string, ttlMs: number): Promise<string> {
  const store = g.t.gateway.store;
  const credentials = new Credentials(store, { defaultTtlMs: ttlMs, maxTtlMs: ttlMs, cacheTtlMs: 0, maxTtlForGroups: () => null }, () => at);
  const row = await store.findPrincipal('user', user);
  assert.ok(row, `user ${user} exists`);
  const { secret } = await credentials.issue({
    principal: { id: row.id, kind: row.kind, name: row.name, groups: row.groups },
    kind: 'agent',
    name: 'old clock',
    connections: [CONNECTION],
    ttlMs,
  });
  return secret;
}

describe('SCRAM-SHA-256 logins with real clients', () => {
  test('pg logs in with SCRAM under the principal name, and runs queries', async () => {
    const r = await pgLogin('alice', alice);
    assert.deepEqual(r.rows, [{ n: 1 }], String(r.error));
    assert.equal(r.asked, 'scram');
  });

  test('psql (libpq) logs in with SCRAM; channel_binding=require is refused by the client (no -PLUS without TLS)', async () => {
    const ok = await psql('alice', alice, ['-At', '-c', 'select 42']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '42');
    const bound = await psql('alice', alice, ['-At', '-c', 'select 1'], { PGCHANNELBINDING: 'require' });
    assert.notEqual(bound.code, 0);
  });

  test('the postgres driver logs in with SCRAM', async () => {
    const sql = postgres({ host: '127.0.0.1', port: g.port, database: CONNECTION, username: 'alice', password: alice, max: 1, onnotice: () => {} });
    try {
      assert.deepEqual([...(await sql`select 7 as n`)], [{ n: 7 }]);
    } finally {
      await sql.end();
    }
  });

  test('a user name without SCRAM-ready tokens is asked for a cleartext password (postgres.auth: both)', async () => {
    const r = await pgLogin('someone-else', alice);
    assert.deepEqual(r.rows, [{ n: 1 }], String(r.error));
    assert.equal(r.asked, 'cleartext');
  });
});

describe('SCRAM refusals are the refusals of a cleartext login', () => {
  test('a wrong token: the same SQLSTATE and message as a wrong cleartext token', async () => {
    const wrong = alice.slice(0, -4) + (alice.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const scram = await pgLogin('alice', wrong);
    const clear = await pgLogin('someone-else', wrong);
    assert.equal(scram.asked, 'scram');
    assert.equal(clear.asked, 'cleartext');
    assert.ok(scram.error && clear.error);
    assert.equal(scram.error.code, clear.error.code);
    assert.equal(scram.error.message, clear.error.message);
    assert.equal(scram.error.severity, 'FATAL');
  });

  test("another principal's valid token under this user name is refused", async () => {
    const r = await pgLogin('alice', bob);
    assert.ok(r.error, 'refused');
    assert.match(r.error.message, /unknown or malformed token/);
    // and under its own name it works
    assert.deepEqual((await pgLogin('bob', bob)).rows, [{ n: 1 }]);
  });

  test('an expired token is refused as expired; a revoked one as revoked', async () => {
    const expired = await issuedAt(1_000, 'alice', 60_000);
    const r = await pgLogin('alice', expired);
    assert.equal(r.asked, 'scram');
    assert.match(r.error?.message ?? '', /expired/);

    const revoked = await g.t.token({ connections: [CONNECTION], user: 'alice' });
    assert.deepEqual((await pgLogin('alice', revoked)).rows, [{ n: 1 }]);
    const { json } = await g.t.api('GET', '/tokens?all=true');
    const id = (json.tokens as any[]).filter((t) => t.principal === 'alice' && t.revokedAt === null).sort((a, b) => b.createdAt - a.createdAt)[0].id;
    assert.equal((await g.t.api('DELETE', `/tokens/${id}`)).status, 200);
    const after = await pgLogin('alice', revoked);
    assert.match(after.error?.message ?? '', /revoked/);
  });

  test('a token scoped to another connection is refused after a good proof', async () => {
    const other = await g.t.token({ connections: ['openai'], user: 'alice' });
    const r = await pgLogin('alice', other);
    assert.equal(r.asked, 'scram');
    assert.match(r.error?.message ?? '', /not scoped to connection/);
  });

  test('a token issued without a verifier still logs in with cleartext', async () => {
    const old = await g.t.token({ connections: [CONNECTION], user: 'carol' });
    const store = g.t.gateway.store as any;
    // as a token issued before verifiers existed: no row in scram_verifiers
    const principal = await g.t.gateway.store.findPrincipal('user', 'carol');
    for (const v of await g.t.gateway.store.listScramVerifiers(principal!.id, Date.now(), 10)) {
      await store.db.run('DELETE FROM scram_verifiers WHERE token_id = ?', [v.tokenId]);
    }
    assert.equal(await new ScramLogins(g.t.gateway.store).hasVerifiers('carol'), false);
    const r = await pgLogin('carol', old);
    assert.equal(r.asked, 'cleartext');
    assert.deepEqual(r.rows, [{ n: 1 }], String(r.error));
  });
});

describe('what the client sent at startup is on its session', () => {
  test('user, application_name and options are recorded; the token is not', async () => {
    const c = pgClient('alice', alice, { application_name: 'scram-startup', options: '-c work_mem=5MB' });
    await c.connect();
    await c.query('select 1');
    await c.end();
    const { json } = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    const session = (json.sessions as any[]).find((s) => s.startup?.application_name === 'scram-startup');
    assert.ok(session, 'the session lists its startup parameters');
    assert.equal(session.startup.user, 'alice');
    assert.equal(session.startup.options, '-c work_mem=5MB');
    assert.equal(session.startup.database, CONNECTION);
    const shown = await g.t.api('GET', `/sessions/${session.id}`);
    assert.deepEqual(shown.json.session?.startup ?? shown.json.startup, session.startup);
    assert.ok(!JSON.stringify(shown.json).includes(alice), 'no token in the record');
  });

  test('a token put in a startup parameter by mistake is recorded redacted', async () => {
    const c = pgClient('alice', alice, { application_name: alice });
    await c.connect();
    await c.end();
    const { json } = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    assert.ok(!JSON.stringify(json).includes(alice), 'no token in any session record');
    assert.ok((json.sessions as any[]).some((s) => s.startup && s.startup.user === 'alice' && s.startup.application_name !== undefined));
  });
});
