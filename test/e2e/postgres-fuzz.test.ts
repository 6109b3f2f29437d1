/**
 * Thousands of random and mutated messages against the Postgres listener, seeded and bounded
 * in count. The gateway must close every connection once its input ends, stay up, a normal client must still work afterwards, and nothing
 * an unauthenticated peer sends may reach the upstream: a counting TCP relay sits in front of
 * the real database and must see no connection at all during the unauthenticated rounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { seededRandom } from '../support/prng.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CASES = 1500;
/** The gateway's frame limit (codec.ts): a longer declared length is refused at once. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const FRONTEND_CODES = new Set('BCDEFHPQSXcdfp'.split('').map((c) => c.charCodeAt(0)));
const PARALLEL = 24;


const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
function packet(code: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(code, 4);
  return Buffer.concat([head, body]);
}
function typed(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
const startup = (params: Record<string, string>) =>
  packet(196608, Buffer.concat([...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]));

interface Relay {
  readonly port: number;
  connections: number;
  bytes: number;
  close(): Promise<void>;
}

/** Forwards to the database and counts what passes. */
async function startRelay(target: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay: Relay = { port: 0, connections: 0, bytes: 0, close: async () => undefined };
  const server: Server = createServer((client) => {
    relay.connections++;
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d) => (relay.bytes += d.length));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(relay, {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

function mutate(random: () => number, base: Buffer): Buffer {
  const out = Buffer.from(base);
  const pick = random();
  if (pick < 0.3 && out.length > 0) {
    for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
      const at = Math.floor(random() * out.length);
      out[at] = out[at]! ^ (1 << Math.floor(random() * 8));
    }
    return out;
  }
  if (pick < 0.5) return out.subarray(0, Math.floor(random() * out.length));
  if (pick < 0.7 && out.length >= 4) {
    out.writeInt32BE([0, 3, 7, -1, 0x7fffffff, 10_001, 1 << 26, out.length + 1000][Math.floor(random() * 8)]!, 0);
    return out;
  }
  return Buffer.concat([out, Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)))]);
}

/** One unauthenticated case: bytes sent in random pieces; the connection must end or be cut by us. */
function unauthenticatedCase(random: () => number, token: string): Buffer[] {
  const validStartup = startup({ user: 'agent', database: 'prod-db', application_name: 'fuzz' });
  const password = typed('p', cstr(random() < 0.5 ? `gth_${'A'.repeat(40)}` : token.slice(0, 10)));
  const ssl = packet(80877103, Buffer.alloc(0));
  const choices: (() => Buffer[])[] = [
    () => [Buffer.from(Array.from({ length: 1 + Math.floor(random() * 200) }, () => Math.floor(random() * 256)))],
    () => [mutate(random, validStartup)],
    () => [validStartup, mutate(random, password)],
    () => [validStartup, password],
    () => [mutate(random, ssl), validStartup],
    () => [Buffer.concat([ssl, validStartup])],
    () => [validStartup, typed('Q', cstr('select 1'))],
    () => [validStartup, mutate(random, typed('Q', cstr('drop table users')))],
    () => [packet(80877102, Buffer.from([0, 0, 0, 1, 1, 2, 3, 4])), validStartup],
    () => [startup({ user: 'agent', database: 'prod-db', replication: 'true' })],
    () => [startup({ user: 'agent' }), password],
    () => [mutate(random, packet(196608 + Math.floor(random() * 5), Buffer.from([0])))],
  ];
  return choices[Math.floor(random() * choices.length)]!();
}

/**
 * One connection: the pieces, split at random points, then end of input. Whatever the gateway
 * made of the bytes, it must close the connection then (a test that hangs here found a leak).
 */
function runCase(port: number, pieces: Buffer[], random: () => number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      for (const piece of pieces) {
        // split each piece at a random point, so framing is exercised across reads
        const cut = Math.floor(random() * (piece.length + 1));
        socket.write(piece.subarray(0, cut));
        if (cut < piece.length) socket.write(piece.subarray(cut));
      }
      socket.end();
    });
  });
}

describe('postgres listener fuzzing', () => {
  let db: PostgresServer;
  let relay: Relay;
  let t: TestGateway;

  before(async () => {
    db = await startPostgres();
    relay = await startRelay(db.port);
    t = await startTestGateway({
      postgres: {},
      extraConnections: `  - name: prod-db
    type: postgres
    upstream: postgres://127.0.0.1:${relay.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
`,
    });
  });
  after(async () => {
    await t?.close();
    await relay?.close();
    await db?.stop();
  });

  test(`unauthenticated garbage (seed ${SEED}) never reaches the upstream and leaves the gateway working`, async () => {
    const token = await t.token({ connections: ['prod-db'] });
    const random = seededRandom(SEED);
    let cases = 0;
    const worker = async () => {
      while (cases < CASES) {
        cases++;
        await runCase(t.pgPort, unauthenticatedCase(random, token), random);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    assert.equal(relay.connections, 0, 'an unauthenticated peer caused an upstream connection');
    assert.equal(relay.bytes, 0);

    const client = new pg.Client({ host: '127.0.0.1', port: t.pgPort, database: 'prod-db', user: 'agent', password: token });
    await client.connect();
    assert.deepEqual((await client.query('select 1 + 1 as two')).rows, [{ two: 2 }]);
    await client.end();
    assert.equal(relay.connections, 1);
    const health = await fetch(`${t.url}/healthz`);
    assert.equal(health.status, 200);
  });

  test('malformed messages inside a live session end only that session; a session that survives still answers', { timeout: 120_000 }, async (ctx) => {
    const token = await t.token({ connections: ['prod-db'] });
    const bystander = new pg.Client({ host: '127.0.0.1', port: t.pgPort, database: 'prod-db', user: 'agent', password: token });
    await bystander.connect();
    const random = seededRandom(SEED + 1);
    const valid = [
      typed('Q', cstr('select 1')),
      typed('P', Buffer.concat([cstr('s1'), cstr('select $1::int'), Buffer.from([0, 1, 0, 0, 0, 23])])),
      typed('B', Buffer.concat([cstr(''), cstr('s1'), Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x37, 0, 0])])),
      typed('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      typed('S', Buffer.alloc(0)),
    ];
    const outcomes = { answered: 0, closed: 0, brokenFraming: 0 };
    for (let i = 0; i < 60; i++) {
      const raw = await openSession(t.pgPort, token);
      const sent = Buffer.concat(valid.map((m) => (random() < 0.4 ? mutate(random, m) : m)));
      const framing = frameCheck(sent);
      const probeText = `probe-${i}`;
      const probe = Buffer.concat([typed('S', Buffer.alloc(0)), typed('Q', cstr(`select '${probeText}' as probe`))]);
      // Bytes that complete a frame left open, so the probe is read as messages of its own; a frame
      // too long to complete, or broken framing, is followed by end of input instead.
      const tail =
        framing.state === 'complete' ? probe : framing.state === 'open' && framing.missing <= 100_000 ? Buffer.concat([Buffer.alloc(framing.missing), probe]) : null;
      const outcome = await sessionOutcome(raw, Buffer.concat([sent, tail ?? Buffer.alloc(0)]), probeText, tail === null);
      if (framing.state === 'broken') {
        outcomes.brokenFraming++;
        assert.equal(outcome, 'closed', `case ${i}: broken framing must end the session`);
      }
      if (tail === null) assert.equal(outcome, 'closed', `case ${i}: the session must end when input ends inside a message`);
      outcomes[outcome]++;
    }
    ctx.diagnostic(`sessions: ${JSON.stringify(outcomes)}`);
    // Both branches ran, so each check above was exercised (the seed fixes the cases).
    assert.ok(outcomes.answered > 0, `no session survived: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.closed > 0, `no session was ended: ${JSON.stringify(outcomes)}`);
    assert.deepEqual((await bystander.query('select 3 as three')).rows, [{ three: 3 }]);
    await bystander.end();
  });
});

/** How the gateway's codec will frame these bytes: all whole frames, an open last frame, or broken. */
function frameCheck(bytes: Buffer): { state: 'complete' } | { state: 'open'; missing: number } | { state: 'broken' } {
  let pos = 0;
  while (pos < bytes.length) {
    if (!FRONTEND_CODES.has(bytes[pos]!)) return { state: 'broken' };
    // A header cut short: its length is unknown, so nothing can complete it.
    if (bytes.length - pos < 5) return { state: 'open', missing: Infinity };
    const length = bytes.readInt32BE(pos + 1);
    if (length < 4 || length > MAX_MESSAGE_BYTES) return { state: 'broken' };
    if (pos + 1 + length > bytes.length) return { state: 'open', missing: pos + 1 + length - bytes.length };
    pos += 1 + length;
  }
  return { state: 'complete' };
}

/**
 * Writes the bytes and waits for the session's fate: 'answered' when the probe's row comes back
 * followed by ReadyForQuery, 'closed' when the gateway closes the connection. Nothing else ends
 * the wait: a session that neither answers nor closes hangs the test, and that is the failure.
 */
function sessionOutcome(socket: Socket, bytes: Buffer, probeText: string, endInput: boolean): Promise<'answered' | 'closed'> {
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0);
    let probeRow = false;
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      while (seen.length >= 5 && seen.length >= 1 + seen.readInt32BE(1)) {
        const frame = seen.subarray(0, 1 + seen.readInt32BE(1));
        seen = seen.subarray(frame.length);
        if (frame[0] === 0x44 && frame.includes(Buffer.from(probeText))) probeRow = true;
        if (frame[0] === 0x5a && probeRow) {
          socket.destroy();
          resolve('answered');
          return;
        }
      }
    });
    socket.on('close', () => resolve('closed'));
    if (endInput) socket.end(bytes);
    else socket.write(bytes);
  });
}

/** A logged-in raw socket (cleartext password flow), ready for typed messages. */
function openSession(port: number, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(startup({ user: 'agent', database: 'prod-db' })));
    let seen = Buffer.alloc(0);
    socket.on('error', () => undefined);
    const onData = (d: Buffer) => {
      seen = Buffer.concat([seen, d]);
      if (seen[0] === 0x52 && seen.length >= 9 && seen.readInt32BE(5) === 3 && !socket.writableEnded && seen.length === 9) {
        socket.write(typed('p', cstr(token)));
      }
      // ReadyForQuery 'Z' len 5 'I' ends the login
      if (seen.length >= 6 && seen.subarray(-6).equals(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]))) {
        socket.off('data', onData);
        socket.on('data', () => undefined);
        resolve(socket);
      }
      if (seen[0] === 0x45) reject(new Error(`login failed: ${seen.toString('utf8')}`));
    };
    socket.on('data', onData);
  });
}
