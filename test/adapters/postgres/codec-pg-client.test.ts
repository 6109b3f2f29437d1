/**
 * Real traffic: node-postgres talks to a tiny in-test server built on FrontendParser and
 * BackendWriter. No PostgreSQL needed; what matters is that the codec reads a real driver's
 * bytes and that the driver accepts the writer's answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import pg from 'pg';
import { FrontendParser, readCleartextPassword } from '../../../src/adapters/postgres/codec.ts';
import type { FrontendMessage } from '../../../src/adapters/postgres/codec.ts';
import { BackendWriter } from '../../../src/adapters/postgres/backend-writer.ts';
import { fields, msg, pushAll } from './wire-bytes.ts';

interface Recorded {
  readonly bytes: Buffer[];
  readonly messages: FrontendMessage[];
  readonly passwords: string[];
}

function answer(socket: Socket, m: FrontendMessage, rec: Recorded, w: BackendWriter): void {
  switch (m.type) {
    case 'startup':
      w.authenticationCleartextPassword();
      break;
    case 'authResponse': {
      const password = readCleartextPassword(m);
      assert.equal(typeof password, 'string');
      rec.passwords.push(password as string);
      w.authenticationOk().parameterStatus('server_version', '17.0').parameterStatus('client_encoding', 'UTF8');
      w.backendKeyData(99, Buffer.from([0, 0, 0, 7])).readyForQuery('I');
      break;
    }
    case 'parse':
      socket.write(msg('1'));
      break;
    case 'bind':
      socket.write(msg('2'));
      break;
    case 'describe':
      w.rowDescription([{ name: 'answer', typeOid: 25 }]);
      break;
    case 'execute':
      w.dataRow(['forty-two']).commandComplete('SELECT 1');
      break;
    case 'query':
      w.rowDescription([{ name: 'one', typeOid: 23 }]).dataRow(['1']).commandComplete('SELECT 1').readyForQuery('I');
      break;
    case 'sync':
      w.readyForQuery('I');
      break;
    case 'terminate':
      socket.end();
      break;
    default:
      assert.fail(`unexpected ${m.type}`);
  }
  const out = w.flush();
  if (out.length > 0) socket.write(out);
}

describe('codec against node-postgres', () => {
  let server: Server;
  let port: number;
  const recorded: Recorded[] = [];

  before(async () => {
    server = createServer((socket) => {
      const rec: Recorded = { bytes: [], messages: [], passwords: [] };
      recorded.push(rec);
      const parser = new FrontendParser();
      const writer = new BackendWriter();
      socket.on('data', (chunk) => {
        rec.bytes.push(chunk);
        const err = parser.push(chunk, (m) => {
          rec.messages.push(m);
          answer(socket, m, rec, writer);
        });
        if (err) socket.destroy(err);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('decodes startup, password, Parse/Bind/Describe/Execute/Sync and Query from a real driver', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'prod-db', password: 'gth_token', application_name: 'codec-test' });
    await client.connect();
    const prepared = await client.query({ text: 'select $1::text || $2 as answer', values: ['forty', null] });
    assert.deepEqual(prepared.rows, [{ answer: 'forty-two' }]);
    const simple = await client.query('select 1 as one');
    assert.deepEqual(simple.rows, [{ one: 1 }]);
    await client.end();

    const rec = recorded.at(-1)!;
    assert.deepEqual(rec.passwords, ['gth_token']);
    const types = rec.messages.map((m) => m.type);
    assert.deepEqual(types, ['startup', 'authResponse', 'parse', 'bind', 'describe', 'execute', 'sync', 'query', 'terminate']);

    const startup = rec.messages[0]!;
    assert.ok(startup.type === 'startup');
    assert.equal(startup.parameters['user'], 'agent');
    assert.equal(startup.parameters['database'], 'prod-db');
    assert.equal(startup.parameters['application_name'], 'codec-test');
    assert.equal(startup.parameters['client_encoding'], 'UTF8');

    const [parse, bind, describeMsg, execute] = rec.messages.slice(2, 6).map(fields);
    assert.deepEqual(parse, { type: 'parse', name: '', sql: 'select $1::text || $2 as answer', paramTypes: [] });
    assert.deepEqual(bind, { type: 'bind', portal: '', statement: '', paramFormats: [0, 0], params: ['forty', null], resultFormats: [0] });
    assert.deepEqual(describeMsg, { type: 'describe', target: 'P', name: '' });
    assert.deepEqual(execute, { type: 'execute', portal: '', maxRows: 0 });
    assert.deepEqual(fields(rec.messages[7]!), { type: 'query', sql: 'select 1 as one' });

    // the same bytes, replayed one byte at a time, decode to the same messages and raw bytes
    const all = Buffer.concat(rec.bytes);
    const replay = pushAll(new FrontendParser(), [...all].map((b) => Buffer.from([b])));
    assert.deepEqual(replay.errors, []);
    assert.deepEqual(replay.messages.map(fields), rec.messages.map(fields));
    assert.deepEqual(Buffer.concat(replay.messages.map((m) => m.raw)), all, 'raw frames reassemble the stream exactly');
  });
});
