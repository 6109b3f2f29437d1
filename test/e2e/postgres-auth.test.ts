/**
 * Who may open a Postgres session through the gateway, and how it ends: token negatives with
 * their SQLSTATEs, revocation of a live session (FATAL to the client, upstream closed), TLS with
 * a throwaway CA (psql sslmode=require and verify-full), and startup-parameter refusals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import pg from 'pg';
import { startPgGateway, eventually, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';

/** A throwaway CA and a server certificate for `localhost` only, made with the openssl CLI. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=gatehouse-test-ca', '-days', '1']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext']);
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

async function connectError(g: PgGateway, password: string | undefined, extra: Partial<pg.ClientConfig> = {}): Promise<any> {
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password, ...extra });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (err) {
    return err;
  }
  await c.end();
  throw new Error('connection unexpectedly succeeded');
}

describe('postgres adapter: tokens, revocation and TLS', () => {
  let g: PgGateway;
  let dir: string;
  let certs: { ca: string; cert: string; key: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-pg-tls-'));
    certs = await makeCertificates(dir);
    g = await startPgGateway({
      postgres: { tls: { cert: certs.cert, key: certs.key } },
      extraConnections: `  - name: notes
    type: postgres
    upstream: postgres://127.0.0.1:1/none?sslmode=disable
    credential: { type: basic, username: x, value: y }
`,
    });
  });
  after(async () => {
    await g?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('refusals at login carry the right SQLSTATE and a clear message', async () => {
    const expired = await g.token([CONNECTION], '1s');
    await new Promise((r) => setTimeout(r, 1100));
    const issued = await g.t.api('POST', '/tokens', { connections: [CONNECTION], name: 'revoked-before-use' });
    await g.t.api('DELETE', `/tokens/${issued.json.id}`);
    const otherScope = await g.token(['openai']);
    const serviceAccount = await g.t.api('POST', '/service-accounts', { name: 'etl', owner: 'admin', connections: [CONNECTION], expires: '7d' });
    const cases: [string, string | undefined, string, RegExp][] = [
      ['expired', expired, '28P01', /expired/],
      ['revoked', issued.json.token, '28P01', /revoked/],
      ['scoped to another connection', otherScope, '42501', /./],
      ['malformed', 'gth_not-a-real-token', '28P01', /unknown or malformed/],
      ['not ours', 'hunter2', '28P01', /./],
      ['service-account secret', serviceAccount.json.secret, '28P01', /exchange/],
    ];
    for (const [what, password, sqlstate, message] of cases) {
      const err = await connectError(g, password);
      assert.equal(err.code, sqlstate, what);
      assert.equal(err.severity, 'FATAL', what);
      assert.match(err.message, message, what);
    }
    const token = await g.token();
    const unknown = await connectError(g, token, { database: 'no-such-db' });
    assert.equal(unknown.code, '3D000');
    assert.match(unknown.message, /no postgres connection named "no-such-db"/);
    const notPostgres = await connectError(g, token, { database: 'openai' });
    assert.equal(notPostgres.code, '3D000');
  });

  test('a token revoked mid-session ends it with FATAL 28P01 and closes the upstream connection', async () => {
    const issued = await g.t.api('POST', '/tokens', { connections: [CONNECTION], name: 'live' });
    const c = await g.client(issued.json.token, { application_name: 'revoke-me' });
    const errors: any[] = [];
    c.on('error', (err) => errors.push(err));
    assert.deepEqual((await c.query('select 1 as ok')).rows, [{ ok: 1 }]);
    const direct = await g.direct();
    const upstreamCount = async () =>
      (await direct.query("select count(*)::int as n from pg_stat_activity where application_name = 'revoke-me'")).rows[0].n as number;
    assert.equal(await upstreamCount(), 1);
    await g.t.api('DELETE', `/tokens/${issued.json.id}`);
    await eventually(() => errors.length > 0, 5000, 'FATAL on the client');
    assert.equal(errors[0].code, '28P01');
    assert.match(errors[0].message, /revoked/);
    await eventually(async () => (await upstreamCount()) === 0, 5000, 'upstream closed');
    const sessions = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    assert.ok(sessions.json.sessions.some((s: any) => /revoked/.test(s.endReason ?? '')));
  });

  test('an expired token ends a live session too', async () => {
    const token = await g.token([CONNECTION], '2s');
    const c = await g.client(token);
    const errors: any[] = [];
    c.on('error', (err) => errors.push(err));
    await c.query('select 1');
    await eventually(() => errors.length > 0, 6000, 'FATAL on expiry');
    assert.equal(errors[0].code, '28P01');
    assert.match(errors[0].message, /expired/);
  });

  test('psql over TLS: sslmode=require and verify-full with the configured certificate', async () => {
    const token = await g.token();
    const conn = (extra: string) => `host=localhost port=${g.port} dbname=${CONNECTION} user=agent ${extra}`;
    const require = await g.psql(token, ['-At', '-c', 'select 40 + 2'], undefined, { PGSSLMODE: 'require' });
    assert.equal(require.code, 0, require.stderr);
    assert.equal(require.stdout.trim(), '42');
    const verified = await g.psql(token, ['-At', '-d', conn(`sslmode=verify-full sslrootcert=${certs.ca}`), '-c', 'select 1'], undefined);
    assert.equal(verified.code, 0, verified.stderr);
    // the certificate names localhost only: verify-full against 127.0.0.1 must fail
    const wrongName = await g.psql(token, ['-At', '-d', `host=127.0.0.1 port=${g.port} dbname=${CONNECTION} user=agent sslmode=verify-full sslrootcert=${certs.ca}`, '-c', 'select 1']);
    assert.notEqual(wrongName.code, 0);
    assert.match(wrongName.stderr, /does not match host name|certificate/i);
    // pg driver with a verified TLS connection
    const c = await g.client(token, { host: 'localhost', ssl: { ca: readFileSync(certs.ca), servername: 'localhost' } });
    assert.deepEqual((await c.query('select 7 as n')).rows, [{ n: 7 }]);
  });

  test('startup refusals: other encodings, replication, a wrong protocol version', async () => {
    const token = await g.token();
    const latin1 = await g.psql(token, ['-c', 'select 1'], undefined, { PGCLIENTENCODING: 'LATIN1' });
    assert.notEqual(latin1.code, 0);
    assert.match(latin1.stderr, /client_encoding LATIN1 is not supported/);
    const replication = await g.psql(token, ['-c', 'IDENTIFY_SYSTEM', '-d', `host=127.0.0.1 port=${g.port} dbname=${CONNECTION} replication=database`]);
    assert.notEqual(replication.code, 0);
    assert.match(replication.stderr, /replication connections are not supported/);

    const reply = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect(g.port, '127.0.0.1', () => {
        const packet = Buffer.alloc(8);
        packet.writeInt32BE(8, 0);
        packet.writeInt32BE(2 << 16, 4); // protocol 2.0
        socket.write(packet);
      });
      socket.on('data', (d) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    assert.equal(String.fromCharCode(reply[0]!), 'E');
    assert.match(reply.toString('utf8'), /FATAL.*08P01.*unsupported frontend protocol 2\.0/s);
  });

  test('switching client_encoding mid-session ends it: the gateway reads text as UTF-8 only', async () => {
    const c = await g.client(await g.token());
    const errors: any[] = [];
    c.on('error', (err) => errors.push(err));
    await c.query("set client_encoding to 'LATIN1'").catch((err) => errors.push(err));
    await eventually(() => errors.length > 0, 5000, 'session ended');
    assert.equal(errors[0].code, '08P01');
    assert.match(errors[0].message, /client_encoding LATIN1 is not supported/);
    await assert.rejects(c.query('select 1'));
  });

  test('an unreachable upstream is a FATAL 08006 for the client, not a hang', async () => {
    const err = await connectError(g, await g.token(['notes']), { database: 'notes' });
    assert.equal(err.code, '08006');
    assert.match(err.message, /could not reach the database/);
  });
});
