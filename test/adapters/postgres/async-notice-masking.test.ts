/**
 * A notice or error that belongs to no statement (sent by the database between statements) is a
 * channel from the upstream to the client too: under a masking rule for the connection it is
 * masked like a NOTIFY payload. The upstream is a hostile stand-in speaking PostgreSQL's backend
 * protocol, since a real server sends such messages only on rare events; the client is the `pg` driver.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { BackendWriter } from '../../../src/adapters/postgres/backend-writer.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';

const EMAIL = 'grace.hopper@example.org';

const POLICY = `
policy:
  rules:
    - name: masked-db
      match: { connections: [masked-db] }
      action: allow
      mask: pii
    - name: allow-the-rest
      action: allow
masking:
  profiles:
    pii:
      entities: { email: redact }
`;

describe('postgres adapter: notices and errors outside any statement', () => {
  let upstream: Server;
  const sockets: Socket[] = [];
  let t: TestGateway;

  before(async () => {
    // Logs any client in, answers every query with an empty result, and lets the test speak out of turn.
    upstream = createServer((socket) => {
      sockets.push(socket);
      let started = false;
      socket.on('data', (chunk) => {
        const w = new BackendWriter();
        if (!started) {
          started = true;
          socket.write(w.authenticationOk().parameterStatus('client_encoding', 'UTF8').parameterStatus('server_version', '15.0').backendKeyData(1, Buffer.alloc(4)).readyForQuery('I').flush());
          return;
        }
        if (chunk[0] === 0x51) socket.write(w.emptyQueryResponse().readyForQuery('I').flush());
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as { port: number }).port;
    const connection = (name: string) => `  - name: ${name}
    type: postgres
    upstream: postgres://127.0.0.1:${port}/db?sslmode=disable
    credential: { type: basic, username: u, value: "p" }
`;
    t = await startTestGateway({ policyYaml: POLICY, postgres: {}, extraConnections: connection('masked-db') + connection('plain-db') });
  });
  after(async () => {
    await t?.close();
    for (const s of sockets) s.destroy();
    upstream?.close();
  });

  async function connect(database: string) {
    const token = await t.token({ connections: [database] });
    const c = new pg.Client({ host: '127.0.0.1', port: t.pgPort, database, user: 'agent', password: token });
    const notices: NoticeMessage[] = [];
    const errors: Error[] = [];
    c.on('notice', (n) => notices.push(n));
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await c.query('');
    return { c, notices, errors, socket: sockets[sockets.length - 1]! };
  }

  const notice = (severity: 'NOTICE' | 'FATAL') =>
    new BackendWriter()[severity === 'NOTICE' ? 'noticeResponse' : 'errorResponse']({ severity, code: severity === 'NOTICE' ? '00000' : '57P01', message: `mail ${EMAIL} now`, detail: `from ${EMAIL}` }).flush();

  test('an idle session\'s notice is masked under the connection\'s profile, and passes as sent where none applies', async () => {
    const masked = await connect('masked-db');
    // Nothing is asked meanwhile: the notice arrives while the session is idle, outside any statement.
    const heard = new Promise((resolve) => masked.c.once('notice', resolve));
    masked.socket.write(notice('NOTICE'));
    await heard;
    assert.equal(masked.notices.length, 1);
    assert.equal(masked.notices[0]!.message, 'mail [EMAIL] now');
    assert.equal(masked.notices[0]!.detail, 'from [EMAIL]');
    assert.ok(!JSON.stringify(masked.notices).includes(EMAIL));

    const plain = await connect('plain-db');
    const plainHeard = new Promise((resolve) => plain.c.once('notice', resolve));
    plain.socket.write(notice('NOTICE'));
    await plainHeard;
    assert.equal(plain.notices[0]!.message, `mail ${EMAIL} now`, 'no rule masks plain-db');
    await Promise.all([masked.c.end(), plain.c.end()]);
  });

  test('hostile: a FATAL sent out of turn, cut into single bytes, is masked too', async () => {
    const { c, errors, socket } = await connect('masked-db');
    // Not events.once: it rejects on the 'error' this test waits to read.
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    const frame = notice('FATAL');
    for (const byte of frame) socket.write(Buffer.from([byte]));
    socket.end();
    await ended;
    const fatal = errors.find((e: any) => e.code === '57P01') as any;
    assert.ok(fatal, `the FATAL reached the client: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(fatal.message, 'mail [EMAIL] now');
    assert.ok(!errors.some((e: any) => JSON.stringify({ m: e.message, d: e.detail }).includes(EMAIL)));
    assert.ok(!t.logs.join('').includes(EMAIL), 'nor in the logs');
  });
});
