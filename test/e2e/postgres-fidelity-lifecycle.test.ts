/**
 * The ends of a session, as PostgreSQL itself handles them (issue 18, items 2 and 3), each
 * checked against the same real database reached directly:
 * - bytes before any startup packet: a Terminate, an HTTP request or an impossible length is
 *   closed without a word, a bad protocol version or layout gets a FATAL;
 * - clients that give up while connecting (pg, the postgres driver, raw) never get an error they
 *   did not ask for, and the gateway is left with no session;
 * - a backend the database ends mid-query (pg_terminate_backend) reaches the client as the
 *   database's one FATAL (57P01), with pg listening to 'error' once, the postgres driver and psql.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import postgres from 'postgres';
import { CONNECTION, eventually, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';

let g: PgGateway;
let token: string;
let direct: pg.Client;

before(async () => {
  g = await startPgGateway({ postgres: {} });
  token = await g.token();
  direct = await g.direct();
});
after(async () => {
  await g?.close();
});

const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const packet = (code: number, body: Buffer = Buffer.alloc(0)) => Buffer.concat([i32(8 + body.length), i32(code), body]);
const startupPacket = (params: Record<string, string>) =>
  packet(196608, Buffer.concat([...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]));
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
const SSL_REQUEST = packet(80877103);

/**
 * Sends `pieces` (each written after the server answered the one before, or at once when
 * `waitEach` is false) and returns everything the server sent until it closed. The client never
 * closes first unless `end` is set: a server that waits for it makes the test time out.
 */
function exchange(port: number, pieces: Buffer[], options: { end?: boolean; waitEach?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let next = 0;
    const sendNext = () => {
      if (next < pieces.length) socket.write(pieces[next++]!);
      if (next >= pieces.length && options.end) socket.end();
    };
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      got.push(d);
      if (options.waitEach) sendNext();
    });
    socket.on('close', () => resolve(Buffer.concat(got)));
    socket.on('connect', () => {
      if (options.waitEach) return sendNext();
      while (next < pieces.length) sendNext();
      if (pieces.length === 0 && options.end) socket.end();
    });
  });
}

/** The message types of a server's reply, in order ('R', 'E', 'N' for a one-byte SSL answer …). */
function types(reply: Buffer, sslAnswer = false): string[] {
  const out: string[] = [];
  let pos = 0;
  if (sslAnswer && reply.length > 0) {
    out.push(`ssl:${String.fromCharCode(reply[0]!)}`);
    pos = 1;
  }
  while (pos + 5 <= reply.length) {
    out.push(String.fromCharCode(reply[pos]!));
    pos += 1 + reply.readInt32BE(pos + 1);
  }
  return out;
}

describe('before the startup packet, as PostgreSQL does', () => {
  const silent: [string, Buffer[], { end?: boolean; waitEach?: boolean }][] = [
    ['a bare Terminate (the client does not close)', [TERMINATE], {}],
    ['a Terminate and a close', [TERMINATE], { end: true }],
    ['an HTTP request', [Buffer.from('GET / HTTP/1.1\r\nHost: db\r\n\r\n')], {}],
    ['a TLS ClientHello-like record', [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])], {}],
    ['a length below 8', [Buffer.concat([i32(4), i32(196608)])], {}],
    ['a negative length', [Buffer.concat([i32(-1), i32(196608)])], {}],
    ['a length over 10 000', [Buffer.concat([i32(20_000), i32(196608)])], {}],
    ['a cancel request with a short key', [Buffer.concat([i32(12), i32(80877102), i32(1)])], {}],
    ['two bytes and a close', [Buffer.from([0, 0])], { end: true }],
    ['nothing and a close', [], { end: true }],
  ];
  for (const [name, pieces, options] of silent) {
    test(`${name}: closed without a word`, { timeout: 20_000 }, async () => {
      const [through, straight] = await Promise.all([exchange(g.port, pieces, options), exchange(g.db.port, pieces, options)]);
      assert.equal(straight.length, 0, 'PostgreSQL itself says nothing here');
      assert.equal(through.toString('latin1'), '', 'the gateway says nothing either');
    });
  }

  test('an SSLRequest answered N, then a Terminate: N, then nothing', { timeout: 20_000 }, async () => {
    const pieces = [SSL_REQUEST, TERMINATE];
    const [through, straight] = await Promise.all([exchange(g.port, pieces, { waitEach: true }), exchange(g.db.port, pieces, { waitEach: true })]);
    assert.deepEqual(types(straight, true), ['ssl:N']);
    assert.deepEqual(types(through, true), ['ssl:N']);
  });

  const fatal: [string, Buffer][] = [
    ['protocol 2.0', Buffer.concat([i32(9), i32(2 << 16), Buffer.from([0])])],
    ['random bytes after a plausible length', Buffer.concat([i32(40), Buffer.alloc(36, 0x41)])],
    ['a startup packet without its final NUL', Buffer.concat([i32(12), i32(196608), Buffer.from('abcd')])],
  ];
  for (const [name, bytes] of fatal) {
    test(`${name}: a FATAL, as from PostgreSQL`, { timeout: 20_000 }, async () => {
      const [through, straight] = await Promise.all([exchange(g.port, [bytes]), exchange(g.db.port, [bytes])]);
      assert.deepEqual(types(straight), ['E']);
      assert.deepEqual(types(through), ['E']);
      assert.match(through.toString('latin1'), /SFATAL\0/);
    });
  }

  test('a startup packet and then a Terminate instead of the password: the same replies as PostgreSQL', { timeout: 20_000 }, async () => {
    const pieces = [startupPacket({ user: g.db.user, database: CONNECTION }), TERMINATE];
    const straightPieces = [startupPacket({ user: g.db.user, database: g.db.database }), TERMINATE];
    const [through, straight] = await Promise.all([exchange(g.port, pieces, { waitEach: true }), exchange(g.db.port, straightPieces, { waitEach: true })]);
    assert.deepEqual(types(through), types(straight));
  });

  test('a NUL inside a value ends it: what follows is read as the next parameter, and role is refused', { timeout: 20_000 }, async () => {
    // "application_name=x\0role\0postgres": the codec reads two parameters, as PostgreSQL does
    const smuggled = packet(196608, Buffer.concat([cstr('user'), cstr('agent'), cstr('database'), cstr(CONNECTION), cstr('application_name'), Buffer.from('x\0role\0postgres\0'), Buffer.from([0])]));
    const reply = await exchange(g.port, [smuggled]);
    assert.deepEqual(types(reply), ['E']);
    assert.match(reply.toString('utf8'), /startup setting "role" as a startup parameter is refused/);
  });

  test('settings that fit the client\'s packet but not the database\'s, with the gateway\'s own names: refused, saying why', { timeout: 20_000 }, async () => {
    const base = { user: 'a', database: CONNECTION };
    const fixed = startupPacket({ ...base, application_name: '' }).length;
    const full = startupPacket({ ...base, application_name: 'x'.repeat(10_000 - fixed) });
    assert.equal(full.length, 10_000);
    const password = Buffer.concat([Buffer.from('p'), i32(4 + token.length + 1), cstr(token)]);
    const reply = await exchange(g.port, [full, password], { waitEach: true });
    assert.deepEqual(types(reply), ['R', 'E']);
    assert.match(reply.toString('utf8'), /the startup settings are too long for the database/);
  });

  test('the gateway still serves ordinary clients after all of that', async () => {
    const c = await g.client(token);
    assert.deepEqual((await c.query('select 1 as n')).rows, [{ n: 1 }]);
    await c.end();
  });
});

describe('clients that give up while connecting', () => {
  /** The ways a pg client can end while its connect() is under way; none may raise an error it does not expect. */
  test('pg: end() at every step of connecting, with one error listener', { timeout: 60_000 }, async () => {
    const rounds = 40;
    const unexpected: unknown[] = [];
    const refusals: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const c = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password: token });
      c.once('error', (err) => unexpected.push(err));
      // pg leaves connect() unsettled when end() comes first, directly to PostgreSQL too: never awaited here
      const connecting = c.connect().then(
        () => undefined,
        (err: Error) => void refusals.push(err.message),
      );
      // end at once, on the next turn, right after pg answered the password request (the login under way), or after login
      const step = i % 4;
      if (step === 1) await new Promise((r) => setImmediate(r));
      if (step === 2) await new Promise((r) => (c as any).connection.once('authenticationCleartextPassword', r));
      if (step === 3) await connecting;
      await c.end();
    }
    assert.deepEqual(unexpected, []);
    // PostgreSQL answers a Terminate in place of the password with a FATAL, which connect() gets: so does the gateway
    for (const message of refusals) assert.match(message, /expected a password message|Connection terminated/);
    await eventually(async () => (await openSessions()) === 0, 10_000, 'no session left open');
  });

  test('the postgres driver: end() right after the first query is queued, and before any', { timeout: 60_000 }, async () => {
    for (let i = 0; i < 20; i++) {
      const sql = postgres({ host: '127.0.0.1', port: g.port, database: CONNECTION, username: 'agent', password: token, max: 1, onnotice: () => undefined });
      const query = i % 2 === 0 ? sql`select 1 as n`.then(() => null, (err) => err) : Promise.resolve(null);
      await sql.end({ timeout: 0 });
      const err = await query;
      // a query the client itself abandoned may fail with the driver's own reason, never with the gateway's
      if (err !== null) assert.doesNotMatch(String(err.message), /gatehouse/);
    }
    await eventually(async () => (await openSessions()) === 0, 10_000, 'no session left open');
  });

  test('raw: the startup packet, then a close before the password', { timeout: 20_000 }, async () => {
    const reply = await exchange(g.port, [startupPacket({ user: 'agent', database: CONNECTION })], { end: true });
    assert.deepEqual(types(reply), ['R']);
  });
});

/** Recorded sessions through the gateway not yet ended (refused logins are recorded apart, as refusals). */
async function openSessions(): Promise<number> {
  const list = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
  return list.json.sessions.filter((s: any) => s.endedAt === null && s.deniedCount === 0).length;
}

describe('a backend the database ends mid-query: one error, the database\'s own', () => {
  /** Waits until `pid` runs pg_sleep, then has the database end it. */
  async function terminateWhenSleeping(pid: number): Promise<void> {
    await eventually(
      async () => (await direct.query("select 1 from pg_stat_activity where pid = $1 and state = 'active' and query like '%pg_sleep%'", [pid])).rowCount === 1,
      10_000,
      'the statement running',
    );
    assert.deepEqual((await direct.query('select pg_terminate_backend($1) as ok', [pid])).rows, [{ ok: true }]);
  }

  /** What a pg client with one 'error' listener sees when its backend is ended under a pg_sleep. */
  async function pgLosesBackend(config: pg.ClientConfig): Promise<{ query: any; events: string[] }> {
    const c = new pg.Client(config);
    const events: string[] = [];
    c.once('error', (err) => events.push(err.message));
    await c.connect();
    const ended = new Promise((r) => c.once('end', r));
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid as number;
    const query = c.query('select pg_sleep(60)').then(
      () => assert.fail('the statement finished'),
      (err) => err,
    );
    await terminateWhenSleeping(pid);
    const err = await query;
    await ended;
    return { query: err, events };
  }

  test('pg, listening to error once: the query fails with 57P01 and the client sees what it sees from PostgreSQL', { timeout: 60_000 }, async () => {
    const straight = await pgLosesBackend({ connectionString: g.db.url });
    const through = await pgLosesBackend({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password: token });
    assert.equal(straight.query.code, '57P01');
    assert.equal(through.query.code, '57P01');
    assert.equal(through.query.severity, 'FATAL');
    assert.equal(through.query.message, straight.query.message);
    assert.deepEqual(through.events, straight.events);
    for (const message of through.events) assert.doesNotMatch(message, /gatehouse/);
  });

  /**
   * The postgres driver's view of a backend ended under a pg_sleep: the errors of that query and
   * of the next one (the driver may read the FATAL before or after it sees the socket close, and
   * hand either to either query), then a query that must work on a new connection.
   */
  async function postgresJsLosesBackend(options: postgres.Options<{}>): Promise<{ code: string; message: string }[]> {
    const sql = postgres({ ...options, max: 1, onnotice: () => undefined });
    const errors: { code: string; message: string }[] = [];
    const keep = (err: any) => void errors.push({ code: err.code, message: String(err.message) });
    try {
      const [first] = await sql`select pg_backend_pid() as pid`;
      const query = sql`select pg_sleep(60)`.then(() => assert.fail('the statement finished'), keep);
      await terminateWhenSleeping(first!['pid'] as number);
      await query;
      await sql`select 2 as n`.then(() => undefined, keep);
      const [last] = await sql`select 3 as n`;
      assert.equal(last!['n'], 3);
      return errors;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  test('the postgres driver: the database\'s FATAL at most once, nothing from the gateway, then a new connection works', { timeout: 60_000 }, async () => {
    const straight = await postgresJsLosesBackend({ host: '127.0.0.1', port: g.db.port, database: g.db.database, username: g.db.user, password: g.db.password });
    const through = await postgresJsLosesBackend({ host: '127.0.0.1', port: g.port, database: CONNECTION, username: 'agent', password: token });
    for (const errors of [straight, through]) {
      assert.ok(errors.length >= 1 && errors.length <= 2, JSON.stringify(errors));
      for (const e of errors) assert.ok(['57P01', 'CONNECTION_CLOSED'].includes(e.code), JSON.stringify(errors));
      assert.ok(errors.filter((e) => e.code === '57P01').length <= 1, JSON.stringify(errors));
    }
    for (const e of through) assert.doesNotMatch(e.message, /gatehouse/);
  });

  test('psql prints the database\'s FATAL once and nothing from the gateway', { timeout: 60_000 }, async () => {
    const child = g.spawnPsql(token, ['-c', 'select pg_backend_pid()', '-c', "select pg_sleep(60) as \"sleeping\""]);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('close', r));
    await eventually(() => /^\s*\d+\s*$/m.test(stdout), 10_000, 'psql printing its backend pid');
    const pid = Number(/^\s*(\d+)\s*$/m.exec(stdout)![1]);
    await terminateWhenSleeping(pid);
    assert.notEqual(await exited, 0);
    assert.equal(stderr.match(/FATAL:/g)?.length, 1, stderr);
    assert.match(stderr, /FATAL:  terminating connection due to administrator command/);
    assert.doesNotMatch(stderr, /gatehouse/);
  });

  test('the session is recorded as ended by the database', async () => {
    const list = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    assert.ok(list.json.sessions.some((s: any) => s.endReason === 'the database ended the session'), JSON.stringify(list.json.sessions.map((s: any) => s.endReason)));
  });
});
