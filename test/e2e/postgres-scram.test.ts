/**
 * SCRAM-SHA-256 towards the client (issue 18, item 4) with real clients and a real database: pg,
 * psql (libpq) and the postgres driver log in with the token as the SCRAM password, the token never
 * crossing the wire; a wrong token, another principal's token, an expired or revoked one are refused
 * as a cleartext login refuses them; a token issued without a verifier still logs in with cleartext;
 * and what the client sent at startup is recorded on its session (item 5), never the token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { CONNECTION, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { Credentials } from '../../src/identity/credentials.ts';
import { ScramLogins } from '../../src/identity/scram-logins.ts';
import { ADMIN_TOKEN } from '../support/gateway.ts';
import { connect } from 'node:net';
import { cstr, i32, msg, startupBytes } from '../adapters/postgres/wire-bytes.ts';

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

  test('gatehouse sessions show prints them, without the control characters a client sent', async () => {
    const c = pgClient('alice', alice, { application_name: 'cli\x1b[31mred' });
    await c.connect();
    await c.end();
    const { json } = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    const session = (json.sessions as any[]).find((s) => s.startup?.application_name?.startsWith('cli'));
    assert.ok(session);
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'sessions', 'show', session.id], {
      env: { ...process.env, GATEHOUSE_URL: g.t.gateway.adminUrl, GATEHOUSE_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: g.t.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    const code = await new Promise((done) => child.once('close', done));
    assert.equal(code, 0, err);
    assert.match(out, /startup: .*user="alice"/);
    assert.match(out, /application_name="cli/);
    assert.ok(!out.includes('\x1b'), 'no escape sequence reaches the terminal');
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

/** Sends `after` once the gateway asked for SASL; resolves with every byte it sent back until it closed. */
function rawSasl(user: string, after: (asked: Buffer) => Buffer[]): Promise<Buffer> {
  return new Promise((done, fail) => {
    const socket = connect(g.port, '127.0.0.1');
    const got: Buffer[] = [];
    let sent = false;
    socket.on('data', (d) => {
      got.push(d);
      const all = Buffer.concat(got);
      // AuthenticationSASL is 'R' with code 10
      if (!sent && all[0] === 0x52 && all.readInt32BE(5) === 10) {
        sent = true;
        for (const piece of after(all)) socket.write(piece);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => done(Buffer.concat(got)));
    socket.write(startupBytes({ user, database: CONNECTION }));
  });
}

/** The SQLSTATE of the ErrorResponse in `bytes`, or null. */
function sqlstate(bytes: Buffer): string | null {
  const at = bytes.indexOf(0x45);
  if (at < 0) return null;
  const m = /C([0-9A-Z]{5})\0/.exec(bytes.subarray(at).toString('latin1'));
  return m ? m[1]! : null;
}

describe('hostile SASL messages on the wire', () => {
  const cases: [string, () => Buffer[], string][] = ([
    ['an unknown mechanism', [msg('p', cstr('SCRAM-SHA-1'), i32(3), Buffer.from('n,,'))], '08P01'],
    ['SCRAM-SHA-256-PLUS, which was not offered', [msg('p', cstr('SCRAM-SHA-256-PLUS'), i32(3), Buffer.from('n,,'))], '08P01'],
    ['no initial response (length -1)', [msg('p', cstr('SCRAM-SHA-256'), i32(-1))], '08P01'],
    ['a data length past the message', [msg('p', cstr('SCRAM-SHA-256'), i32(200), Buffer.from('n,,n=,r=abc'))], '08P01'],
    ['a negative data length', [msg('p', cstr('SCRAM-SHA-256'), i32(-7))], '08P01'],
    ['a mechanism name without its NUL', [msg('p', Buffer.from('SCRAM-SHA-256'))], '08P01'],
    ['a query instead of the SASL response', [msg('Q', cstr('select 1'))], '08P01'],
  ] as [string, Buffer[], string][]).map(([n, p, c]) => [n, () => p, c] as [string, () => Buffer[], string]);
  cases.push(['a cleartext password instead of SCRAM', () => [msg('p', cstr(alice))], '08P01']);
  for (const [name, pieces, code] of cases) {
    test(name, async () => {
      const bytes = await rawSasl('alice', pieces);
      assert.equal(sqlstate(bytes), code, bytes.toString('latin1'));
      assert.ok(!bytes.toString('latin1').includes(alice));
    });
  }

  test('a good client-first and then a SASLResponse replayed from another connection is refused', async () => {
    const first = Buffer.from('n,,n=,r=replayed-nonce');
    let serverFirst = '';
    const bytes = await new Promise<Buffer>((done) => {
      const socket = connect(g.port, '127.0.0.1');
      const got: Buffer[] = [];
      socket.on('data', (d) => {
        got.push(d);
        const all = Buffer.concat(got);
        if (all[0] === 0x52 && all.readInt32BE(5) === 10 && got.length === 1) {
          socket.write(msg('p', cstr('SCRAM-SHA-256'), i32(first.length), first));
        }
        const at = all.indexOf('r=replayed-nonce');
        if (at > 0 && serverFirst === '') {
          serverFirst = all.subarray(at, all.length).toString('latin1');
          // a final carrying a server nonce the gateway never sent this connection
          socket.write(msg('p', Buffer.from(`c=biws,r=replayed-nonceAAAAAAAAAAAAAAAAAAAAAAAA,p=${Buffer.alloc(32).toString('base64')}`)));
        }
      });
      socket.on('close', () => done(Buffer.concat(got)));
      socket.write(startupBytes({ user: 'alice', database: CONNECTION }));
    });
    assert.match(serverFirst, /^r=replayed-nonce[^,]+,s=[^,]+,i=4096/);
    assert.equal(sqlstate(bytes), '08P01');
  });

  test('unknown names get the same salt every time, another than a real one, from a secret kept in the store', async () => {
    const logins = new ScramLogins(g.t.gateway.store);
    const a = await logins.lookup('nobody-1');
    const again = await new ScramLogins(g.t.gateway.store).lookup('nobody-1');
    const b = await logins.lookup('nobody-2');
    const real = await logins.lookup('alice');
    assert.deepEqual(a.salt, again.salt, 'stable across instances (replicas, restarts)');
    assert.notDeepEqual(a.salt, b.salt);
    assert.equal(a.salt.length, real.salt.length);
    assert.equal(a.iterations, real.iterations);
    assert.deepEqual(a.candidates, []);
    assert.ok(real.candidates.length > 0);
  });

  test('the store keeps StoredKey and ServerKey only, never the token', async () => {
    const principal = await g.t.gateway.store.findPrincipal('user', 'alice');
    const rows = await g.t.gateway.store.listScramVerifiers(principal!.id, Date.now(), 64);
    assert.ok(rows.length > 0);
    const text = JSON.stringify(rows);
    assert.ok(!text.includes(alice) && !text.includes(alice.slice(4)));
    assert.deepEqual(Object.keys(rows[0]!).sort(), ['createdAt', 'iterations', 'principalId', 'salt', 'serverKey', 'storedKey', 'tokenId']);
  });
});

describe('no token in the logs', () => {
  test('after every login above, successful or refused, no log line holds a token', () => {
    assert.ok(g.t.logs.length > 0, 'the gateway logged');
    const text = g.t.logs.join('');
    for (const secret of [alice, bob]) {
      assert.ok(!text.includes(secret), 'a token reached the log');
      assert.ok(!text.includes(secret.slice(4)), "a token's secret part reached the log");
    }
    assert.match(text, /postgres session startup/);
  });
});
