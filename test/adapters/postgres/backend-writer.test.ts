import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { BackendWriter } from '../../../src/adapters/postgres/backend-writer.ts';
import { cstr, i16, i32, msg } from './wire-bytes.ts';

/** Server messages as node-postgres, a real client, reads them. */
function parseAsClient(bytes: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  // DatabaseError keeps `message` as a non-enumerable Error property
  new Parser().parse(bytes, (m: BackendMessage) => out.push({ ...m, ...('message' in m ? { message: m.message } : {}) }));
  return out;
}

interface Case {
  readonly name: string;
  readonly write: (w: BackendWriter) => BackendWriter;
  readonly bytes: Buffer;
  /** Fields node-postgres must read back (a subset of what it reports). */
  readonly client: Record<string, unknown>;
}

const cases: Case[] = [
  { name: 'AuthenticationOk', write: (w) => w.authenticationOk(), bytes: msg('R', i32(0)), client: { name: 'authenticationOk' } },
  {
    name: 'AuthenticationCleartextPassword',
    write: (w) => w.authenticationCleartextPassword(),
    bytes: msg('R', i32(3)),
    client: { name: 'authenticationCleartextPassword' },
  },
  {
    name: 'AuthenticationSASL',
    write: (w) => w.authenticationSasl(['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS']),
    bytes: msg('R', i32(10), cstr('SCRAM-SHA-256'), cstr('SCRAM-SHA-256-PLUS'), cstr('')),
    client: { name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'] },
  },
  {
    name: 'AuthenticationSASLContinue',
    write: (w) => w.authenticationSaslContinue('r=abc,s=c2FsdA==,i=4096'),
    bytes: msg('R', i32(11), Buffer.from('r=abc,s=c2FsdA==,i=4096')),
    client: { name: 'authenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' },
  },
  {
    name: 'AuthenticationSASLFinal',
    write: (w) => w.authenticationSaslFinal(Buffer.from('v=xyz')),
    bytes: msg('R', i32(12), Buffer.from('v=xyz')),
    client: { name: 'authenticationSASLFinal', data: 'v=xyz' },
  },
  {
    name: 'ParameterStatus',
    write: (w) => w.parameterStatus('server_version', '17.2'),
    bytes: msg('S', cstr('server_version'), cstr('17.2')),
    client: { name: 'parameterStatus', parameterName: 'server_version', parameterValue: '17.2' },
  },
  {
    name: 'BackendKeyData',
    write: (w) => w.backendKeyData(1234, Buffer.from([0, 0, 1, 0])),
    bytes: msg('K', i32(1234), Buffer.from([0, 0, 1, 0])),
    client: { name: 'backendKeyData', processID: 1234, secretKey: 256 },
  },
  { name: 'ReadyForQuery', write: (w) => w.readyForQuery('T'), bytes: msg('Z', Buffer.from('T')), client: { name: 'readyForQuery', status: 'T' } },
  {
    name: 'ErrorResponse',
    write: (w) =>
      w.errorResponse({ severity: 'ERROR', code: '42501', message: 'denied by rule "no-ddl"', detail: 'DROP TABLE', hint: 'ask an admin', position: 8 }),
    bytes: msg(
      'E',
      Buffer.from('S'), cstr('ERROR'),
      Buffer.from('V'), cstr('ERROR'),
      Buffer.from('C'), cstr('42501'),
      Buffer.from('M'), cstr('denied by rule "no-ddl"'),
      Buffer.from('D'), cstr('DROP TABLE'),
      Buffer.from('H'), cstr('ask an admin'),
      Buffer.from('P'), cstr('8'),
      Buffer.from([0]),
    ),
    client: { name: 'error', severity: 'ERROR', code: '42501', message: 'denied by rule "no-ddl"', detail: 'DROP TABLE', hint: 'ask an admin', position: '8' },
  },
  {
    name: 'NoticeResponse without optional fields',
    write: (w) => w.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'recorded' }),
    bytes: msg('N', Buffer.from('S'), cstr('NOTICE'), Buffer.from('V'), cstr('NOTICE'), Buffer.from('C'), cstr('00000'), Buffer.from('M'), cstr('recorded'), Buffer.from([0])),
    client: { name: 'notice', severity: 'NOTICE', code: '00000', message: 'recorded', detail: undefined },
  },
  { name: 'CommandComplete', write: (w) => w.commandComplete('SELECT 1'), bytes: msg('C', cstr('SELECT 1')), client: { name: 'commandComplete', text: 'SELECT 1' } },
  { name: 'EmptyQueryResponse', write: (w) => w.emptyQueryResponse(), bytes: msg('I'), client: { name: 'emptyQuery' } },
  {
    name: 'RowDescription',
    write: (w) => w.rowDescription([{ name: 'n', typeOid: 23, typeSize: 4 }, { name: 'é', typeOid: 25, format: 1 }]),
    bytes: msg(
      'T', i16(2),
      cstr('n'), i32(0), i16(0), i32(23), i16(4), i32(-1), i16(0),
      cstr('é'), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(1),
    ),
    client: { name: 'rowDescription', fieldCount: 2 },
  },
  {
    name: 'DataRow',
    write: (w) => w.dataRow(['1', null, 'é', Buffer.from([0xff])]),
    bytes: msg('D', i16(4), i32(1), Buffer.from('1'), i32(-1), i32(2), Buffer.from('é'), i32(1), Buffer.from([0xff])),
    client: { name: 'dataRow', fieldCount: 4 },
  },
];

describe('BackendWriter', () => {
  for (const c of cases) {
    it(`${c.name}: exact bytes, read back by node-postgres`, () => {
      const bytes = c.write(new BackendWriter()).flush();
      assert.deepEqual(bytes, c.bytes);
      const [read] = parseAsClient(bytes);
      for (const [k, v] of Object.entries(c.client)) assert.deepEqual(read?.[k], v, k);
    });
  }

  it('queues a whole handshake and flushes it as one buffer, then starts over', () => {
    const w = new BackendWriter();
    const first = w
      .authenticationOk()
      .parameterStatus('client_encoding', 'UTF8')
      .backendKeyData(7, Buffer.from([0, 0, 0, 9]))
      .readyForQuery('I')
      .flush();
    assert.deepEqual(parseAsClient(first).map((m) => m['name']), ['authenticationOk', 'parameterStatus', 'backendKeyData', 'readyForQuery']);
    const second = w.commandComplete('SELECT 0').flush();
    assert.deepEqual(second, msg('C', cstr('SELECT 0')));
    assert.deepEqual(parseAsClient(first).length, 4, 'a flushed buffer is not touched by later writes');
    assert.equal(w.flush().length, 0);
  });

  it('grows for large rows and stays correct', () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const bytes = new BackendWriter().dataRow([big]).readyForQuery('I').flush();
    const [row, ready] = parseAsClient(bytes);
    assert.equal((row?.['fields'] as string[])[0]?.length, big.length);
    assert.equal(ready?.['name'], 'readyForQuery');
  });

  it('refuses encryption with a single N and accepts SSL with a single S', () => {
    assert.deepEqual(new BackendWriter().sslResponse(false).flush(), Buffer.from('N'));
    assert.deepEqual(new BackendWriter().gssEncRefused().flush(), Buffer.from('N'));
    assert.deepEqual(new BackendWriter().sslResponse(true).flush(), Buffer.from('S'));
  });

  it('writes NegotiateProtocolVersion', () => {
    const bytes = new BackendWriter().negotiateProtocolVersion(0, ['_pq_.compression']).flush();
    assert.deepEqual(bytes, msg('v', i32(196608), i32(1), cstr('_pq_.compression')));
  });

  it('cannot be made to forge error fields with a NUL in a message', () => {
    const bytes = new BackendWriter()
      .errorResponse({ severity: 'ERROR', code: '42501', message: 'denied: x\0C00000\0Mfine' })
      .flush();
    const [err] = parseAsClient(bytes);
    assert.equal(err?.['code'], '42501');
    assert.equal(err?.['message'], 'denied: x\uFFFDC00000\uFFFDMfine');
  });
});
