import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrontendParser, readCleartextPassword, readSaslInitialResponse } from '../../../src/adapters/postgres/codec.ts';
import type { AuthResponseMessage, FrontendMessage } from '../../../src/adapters/postgres/codec.ts';
import { ProtocolError } from '../../../src/errors.ts';
import { cstr, fields, i16, i32, msg, packet, pushAll, startupBytes, u32 } from './wire-bytes.ts';

interface Case {
  readonly name: string;
  readonly bytes: Buffer;
  readonly typed: boolean;
  readonly expected: Record<string, unknown>;
}

const cases: Case[] = [
  {
    name: 'StartupMessage',
    bytes: startupBytes({ user: 'agent', database: 'prod-db', application_name: 'psql' }),
    typed: false,
    expected: {
      type: 'startup',
      majorVersion: 3,
      minorVersion: 0,
      parameters: { user: 'agent', database: 'prod-db', application_name: 'psql' },
    },
  },
  {
    name: 'StartupMessage asking for protocol 3.2',
    bytes: packet((3 << 16) | 2, cstr('user'), cstr('u'), cstr('_pq_.x'), cstr('1'), Buffer.from([0])),
    typed: false,
    expected: { type: 'startup', majorVersion: 3, minorVersion: 2, parameters: { user: 'u', '_pq_.x': '1' } },
  },
  { name: 'SSLRequest', bytes: packet(80877103), typed: false, expected: { type: 'sslRequest' } },
  { name: 'GSSENCRequest', bytes: packet(80877104), typed: false, expected: { type: 'gssEncRequest' } },
  {
    name: 'CancelRequest',
    bytes: packet(80877102, i32(4242), Buffer.from([1, 2, 3, 4])),
    typed: false,
    expected: { type: 'cancelRequest', processId: 4242, secretKey: '\x01\x02\x03\x04' },
  },
  {
    name: 'Query',
    bytes: msg('Q', cstr('select 1; select \'é\'')),
    typed: true,
    expected: { type: 'query', sql: "select 1; select 'é'" },
  },
  { name: 'empty Query', bytes: msg('Q', cstr('')), typed: true, expected: { type: 'query', sql: '' } },
  {
    name: 'Parse',
    bytes: msg('P', cstr('s1'), cstr('select $1, $2'), i16(2), u32(23), u32(4294967295)),
    typed: true,
    expected: { type: 'parse', name: 's1', sql: 'select $1, $2', paramTypes: [23, 4294967295] },
  },
  {
    name: 'Bind with NULL, empty and binary parameters',
    bytes: msg(
      'B',
      cstr('p1'),
      cstr('s1'),
      i16(2),
      i16(0),
      i16(1),
      i16(3),
      i32(2),
      Buffer.from('42'),
      i32(-1),
      i32(0),
      i16(1),
      i16(1),
    ),
    typed: true,
    expected: {
      type: 'bind',
      portal: 'p1',
      statement: 's1',
      paramFormats: [0, 1],
      params: ['42', null, ''],
      resultFormats: [1],
    },
  },
  {
    name: 'Bind with nothing',
    bytes: msg('B', cstr(''), cstr(''), i16(0), i16(0), i16(0)),
    typed: true,
    expected: { type: 'bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [] },
  },
  { name: 'Describe statement', bytes: msg('D', Buffer.from('S'), cstr('s1')), typed: true, expected: { type: 'describe', target: 'S', name: 's1' } },
  { name: 'Describe portal', bytes: msg('D', Buffer.from('P'), cstr('')), typed: true, expected: { type: 'describe', target: 'P', name: '' } },
  { name: 'Execute', bytes: msg('E', cstr('p1'), i32(100)), typed: true, expected: { type: 'execute', portal: 'p1', maxRows: 100 } },
  { name: 'Close', bytes: msg('C', Buffer.from('P'), cstr('p1')), typed: true, expected: { type: 'close', target: 'P', name: 'p1' } },
  { name: 'Sync', bytes: msg('S'), typed: true, expected: { type: 'sync' } },
  { name: 'Flush', bytes: msg('H'), typed: true, expected: { type: 'flush' } },
  { name: 'Terminate', bytes: msg('X'), typed: true, expected: { type: 'terminate' } },
  { name: 'CopyData', bytes: msg('d', Buffer.from('1\tx\n')), typed: true, expected: { type: 'copyData', data: '1\tx\n' } },
  { name: 'CopyDone', bytes: msg('c'), typed: true, expected: { type: 'copyDone' } },
  { name: 'CopyFail', bytes: msg('f', cstr('aborted')), typed: true, expected: { type: 'copyFail', message: 'aborted' } },
  { name: 'PasswordMessage', bytes: msg('p', cstr('gth_secret')), typed: true, expected: { type: 'authResponse', body: 'gth_secret\0' } },
  { name: 'FunctionCall', bytes: msg('F', u32(1234), i16(0)), typed: true, expected: { type: 'functionCall', body: '\0\0\x04\xd2\0\0' } },
];

function parserFor(c: Case): FrontendParser {
  const p = new FrontendParser();
  if (c.typed) p.startupDone();
  return p;
}

function assertOne(c: Case, got: { messages: FrontendMessage[]; errors: ProtocolError[] }): void {
  assert.deepEqual(got.errors, []);
  assert.equal(got.messages.length, 1);
  const m = got.messages[0]!;
  assert.deepEqual(fields(m), c.expected);
  assert.deepEqual(m.raw, c.bytes, 'raw keeps the exact bytes');
}

describe('FrontendParser: every message type', () => {
  for (const c of cases) {
    it(`${c.name}: whole`, () => {
      assertOne(c, pushAll(parserFor(c), [c.bytes]));
    });

    it(`${c.name}: split at every offset`, () => {
      for (let at = 1; at < c.bytes.length; at++) {
        assertOne(c, pushAll(parserFor(c), [c.bytes.subarray(0, at), c.bytes.subarray(at)]));
      }
    });

    it(`${c.name}: one byte at a time`, () => {
      const chunks = [...c.bytes].map((b) => Buffer.from([b]));
      assertOne(c, pushAll(parserFor(c), chunks));
    });
  }

  it('parses a whole session in one chunk and switches phase after StartupMessage', () => {
    const typed = cases.filter((c) => c.typed && c.name !== 'Terminate');
    const all = Buffer.concat([startupBytes({ user: 'u' }), ...typed.map((c) => c.bytes), msg('X')]);
    const got = pushAll(new FrontendParser(), [all]);
    assert.deepEqual(got.errors, []);
    assert.deepEqual(
      got.messages.map((m) => m.type),
      ['startup', ...typed.map((c) => c.expected['type']), 'terminate'],
    );
  });

  it('parses the same session split into 3 uneven chunks at every pair of offsets', () => {
    const all = Buffer.concat([startupBytes({ user: 'u' }), cases[7]!.bytes, cases[8]!.bytes, msg('S')]);
    for (let a = 1; a < all.length; a += 3) {
      for (let b = a + 1; b < all.length; b += 5) {
        const got = pushAll(new FrontendParser(), [all.subarray(0, a), all.subarray(a, b), all.subarray(b)]);
        assert.deepEqual(got.errors, []);
        assert.deepEqual(got.messages.map((m) => m.type), ['startup', 'parse', 'bind', 'sync']);
      }
    }
  });

  it('answers SSLRequest, then reads the StartupMessage that follows in a later chunk', () => {
    const p = new FrontendParser();
    const got = pushAll(p, [packet(80877103), startupBytes({ user: 'u' }), msg('Q', cstr('select 1'))]);
    assert.deepEqual(got.errors, []);
    assert.deepEqual(got.messages.map((m) => m.type), ['sslRequest', 'startup', 'query']);
  });

  it('starts typed without a StartupMessage after startupDone()', () => {
    const p = new FrontendParser();
    p.startupDone();
    const got = pushAll(p, [msg('Q', cstr('select 1'))]);
    assert.equal(got.messages[0]?.type, 'query');
  });
});

describe('FrontendParser: buffers', () => {
  /** Buffer.alloc never uses the shared pool, so sharing its ArrayBuffer proves a view. */
  const unpooled = (b: Buffer): Buffer => {
    const out = Buffer.alloc(b.length);
    b.copy(out);
    return out;
  };
  const isViewOf = (part: Buffer | null | undefined, whole: Buffer): boolean =>
    part != null && part.buffer === whole.buffer && part.byteOffset >= whole.byteOffset;

  it('does not copy a message that arrives within one chunk', () => {
    const chunk = unpooled(Buffer.concat([msg('Q', cstr('select 1')), msg('S')]));
    const got = pushAll(typedParser(), [chunk]);
    assert.equal(got.messages.length, 2);
    for (const m of got.messages) assert.ok(isViewOf(m.raw, chunk));
    const bind = unpooled(msg('B', cstr(''), cstr(''), i16(0), i16(1), i32(3), Buffer.from('abc'), i16(0)));
    const b = pushAll(typedParser(), [bind]).messages[0];
    assert.ok(b?.type === 'bind');
    assert.ok(isViewOf(b.params[0], bind), 'parameter values are views, not copies');
  });

  it('never overwrites a message it already handed out', () => {
    const p = typedParser();
    const first = msg('Q', cstr('select ' + 'a'.repeat(100)));
    const kept: FrontendMessage[] = [];
    const chunks = [first.subarray(0, 3), first.subarray(3, 50), Buffer.concat([first.subarray(50), msg('Q', cstr('x').subarray(0, 1))])];
    for (const c of chunks) p.push(c, (m) => kept.push(m));
    const snapshot = Buffer.from(kept[0]!.raw);
    for (let i = 0; i < 50; i++) {
      const next = msg('Q', cstr(`select ${i} ` + 'z'.repeat(i * 10)));
      p.push(next.subarray(0, 4), () => undefined);
      p.push(next.subarray(4), () => undefined);
    }
    assert.deepEqual(kept[0]!.raw, snapshot);
  });

  it('reassembles a 1 MiB message from small chunks', () => {
    const data = Buffer.alloc(1024 * 1024, 'abcdefgh');
    const frame = msg('d', data);
    const chunks: Buffer[] = [];
    for (let pos = 0; pos < frame.length; pos += 1000) chunks.push(frame.subarray(pos, pos + 1000));
    const got = pushAll(typedParser(), chunks);
    assert.deepEqual(got.errors, []);
    assert.equal(got.messages.length, 1);
    const m = got.messages[0]!;
    assert.ok(m.type === 'copyData');
    assert.ok(m.data.equals(data));
    assert.equal(m.raw.length, frame.length);
  });

  it('does not allocate what a peer only announces', () => {
    const p = typedParser();
    const huge = Buffer.concat([Buffer.from('Q'), i32(64 * 1024 * 1024), Buffer.from('select')]);
    const before = process.memoryUsage().arrayBuffers;
    const parsers = Array.from({ length: 50 }, () => typedParser());
    for (const q of parsers) assert.equal(q.push(huge, () => assert.fail('no message yet')), null);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 8 * 1024 * 1024, `50 announced 64 MiB messages held ${grown} bytes`);
    assert.equal(parsers[0]!.pendingBytes, huge.length);
    assert.equal(p.pendingBytes, 0);
  });
});

function typedParser(options?: ConstructorParameters<typeof FrontendParser>[0]): FrontendParser {
  const p = new FrontendParser(options);
  p.startupDone();
  return p;
}

interface BadCase {
  readonly name: string;
  readonly chunks: Buffer[];
  readonly typed: boolean;
  /** Messages delivered before the error. */
  readonly before?: string[];
  readonly options?: ConstructorParameters<typeof FrontendParser>[0];
}

const bad: BadCase[] = [
  { name: 'startup length below 8', chunks: [Buffer.concat([i32(4), i32(0)])], typed: false },
  { name: 'negative startup length', chunks: [Buffer.concat([i32(-8), u32(196608)])], typed: false },
  { name: 'startup packet over 10 000 bytes', chunks: [Buffer.concat([i32(10_001), u32(196608)])], typed: false },
  { name: 'protocol 2.0', chunks: [packet(2 << 16, cstr('user'), cstr('u'), Buffer.from([0]))], typed: false },
  { name: 'protocol 4.0', chunks: [packet(4 << 16, Buffer.from([0]))], typed: false },
  { name: 'unknown 1234.x request code', chunks: [packet(80877199)], typed: false },
  { name: 'HTTP request instead of PostgreSQL', chunks: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], typed: false },
  { name: 'TLS ClientHello without SSLRequest', chunks: [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])], typed: false },
  { name: 'startup parameters without terminator', chunks: [packet(196608, cstr('user'), cstr('u'))], typed: false },
  { name: 'startup parameter without value', chunks: [packet(196608, cstr('user'), Buffer.from([0]))], typed: false },
  { name: 'bytes after the startup terminator', chunks: [packet(196608, cstr('user'), cstr('u'), Buffer.from([0, 0x41]))], typed: false },
  { name: 'SSLRequest with a body', chunks: [packet(80877103, i32(0))], typed: false },
  { name: 'CancelRequest with a 2-byte key', chunks: [packet(80877102, i32(1), Buffer.from([1, 2]))], typed: false },
  { name: 'CancelRequest with a 300-byte key', chunks: [packet(80877102, i32(1), Buffer.alloc(300))], typed: false },
  {
    name: 'plain text queued behind SSLRequest (CVE-2021-23214)',
    chunks: [Buffer.concat([packet(80877103), startupBytes({ user: 'u' })])],
    typed: false,
  },
  {
    name: 'plain text queued behind a split GSSENCRequest',
    chunks: [packet(80877104).subarray(0, 5), Buffer.concat([packet(80877104).subarray(5), Buffer.from('Q')])],
    typed: false,
  },
  { name: 'data after CancelRequest', chunks: [packet(80877102, i32(1), i32(2)), msg('X')], typed: false, before: ['cancelRequest'] },
  { name: 'unknown message type', chunks: [msg('Z', cstr('x'))], typed: true },
  { name: 'NUL type byte', chunks: [Buffer.alloc(16)], typed: true },
  { name: 'typed length below 4', chunks: [Buffer.concat([Buffer.from('S'), i32(3)])], typed: true },
  { name: 'negative typed length', chunks: [Buffer.concat([Buffer.from('Q'), i32(-1)])], typed: true },
  {
    name: 'message over maxMessageBytes',
    chunks: [msg('Q', cstr('x'.repeat(100)))],
    typed: true,
    options: { maxMessageBytes: 64 },
  },
  { name: 'over the 64 MiB default', chunks: [Buffer.concat([Buffer.from('d'), i32(64 * 1024 * 1024 + 1)])], typed: true },
  { name: 'Query without NUL', chunks: [msg('Q', Buffer.from('select 1'))], typed: true },
  { name: 'Query with bytes after its NUL', chunks: [msg('Q', cstr('select 1'), cstr('drop table t'))], typed: true },
  { name: 'Parse with negative type count', chunks: [msg('P', cstr(''), cstr('select 1'), i16(-1))], typed: true },
  { name: 'Parse with missing type OIDs', chunks: [msg('P', cstr(''), cstr('select $1'), i16(2), u32(23))], typed: true },
  {
    name: 'Bind with parameter length -2',
    chunks: [msg('B', cstr(''), cstr(''), i16(0), i16(1), i32(-2), i16(0))],
    typed: true,
  },
  {
    name: 'Bind with parameter longer than the message',
    chunks: [msg('B', cstr(''), cstr(''), i16(0), i16(1), i32(1000), Buffer.from('abc'), i16(0))],
    typed: true,
  },
  { name: 'Describe of an unknown target', chunks: [msg('D', Buffer.from('X'), cstr('x'))], typed: true },
  { name: 'Execute without row limit', chunks: [msg('E', cstr(''))], typed: true },
  { name: 'Sync with a body', chunks: [msg('S', Buffer.from([0]))], typed: true },
  {
    name: 'good messages, then garbage',
    chunks: [Buffer.concat([msg('Q', cstr('select 1')), msg('S'), Buffer.from('garbage!')])],
    typed: true,
    before: ['query', 'sync'],
  },
];

describe('FrontendParser: malformed input', () => {
  for (const c of bad) {
    it(`rejects ${c.name}, once, and stays failed`, () => {
      const p = new FrontendParser(c.options);
      if (c.typed) p.startupDone();
      let got: ReturnType<typeof pushAll>;
      assert.doesNotThrow(() => {
        got = pushAll(p, c.chunks);
      });
      assert.equal(got!.errors.length, 1);
      assert.ok(got!.errors[0] instanceof ProtocolError);
      assert.equal(got!.errors[0].code, 'protocol_error');
      assert.deepEqual(got!.messages.map((m) => m.type), c.before ?? []);
      assert.equal(p.error, got!.errors[0]);
      const after = pushAll(p, [msg('Q', cstr('select 1')), startupBytes({ user: 'u' })]);
      assert.deepEqual(after, { messages: [], errors: [] });
      assert.equal(p.end(), null);
      assert.equal(p.pendingBytes, 0);
    });
  }

  it('reports a connection closed inside a message', () => {
    const p = typedParser();
    const q = msg('Q', cstr('select 1'));
    assert.equal(p.push(q.subarray(0, 7), () => assert.fail('incomplete')), null);
    const err = p.end();
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.code, 'protocol_error');
    assert.equal(p.push(q.subarray(7), () => assert.fail('ended')), null);
  });

  it('reports a connection closed inside a split header', () => {
    const p = new FrontendParser();
    p.push(Buffer.from([0, 0]), () => assert.fail('incomplete'));
    assert.ok(p.end() instanceof ProtocolError);
  });

  it('ends cleanly between messages', () => {
    const p = typedParser();
    pushAll(p, [msg('X')]);
    assert.equal(p.end(), null);
    assert.equal(p.error, null);
  });

  it('lets a throwing handler propagate and leaves the parser failed', () => {
    const p = typedParser();
    const boom = new Error('handler bug');
    assert.throws(() => p.push(Buffer.concat([msg('S'), msg('S')]), () => { throw boom; }), boom);
    assert.equal(p.error?.code, 'protocol_error');
    assert.equal(p.push(msg('S'), () => assert.fail('failed parsers read nothing')), null);
  });
});

describe('authentication response helpers', () => {
  const auth = (body: Buffer): AuthResponseMessage => ({ type: 'authResponse', raw: msg('p', body), body });

  it('reads a cleartext password', () => {
    assert.equal(readCleartextPassword(auth(cstr('gth_abc'))), 'gth_abc');
    assert.equal(readCleartextPassword(auth(cstr(''))), '');
  });

  for (const [name, body] of [
    ['without NUL', Buffer.from('gth_abc')],
    ['with bytes after the NUL', Buffer.concat([cstr('gth_abc'), cstr('x')])],
    ['empty body', Buffer.alloc(0)],
  ] as const) {
    it(`rejects a password packet ${name}`, () => {
      const r = readCleartextPassword(auth(body));
      assert.ok(r instanceof ProtocolError);
      assert.equal(r.code, 'protocol_error');
    });
  }

  it('reads a SASLInitialResponse with and without data', () => {
    const first = 'n,,n=,r=abc';
    assert.deepEqual(readSaslInitialResponse(auth(Buffer.concat([cstr('SCRAM-SHA-256'), i32(first.length), Buffer.from(first)]))), {
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.from(first),
    });
    assert.deepEqual(readSaslInitialResponse(auth(Buffer.concat([cstr('SCRAM-SHA-256'), i32(-1)]))), {
      mechanism: 'SCRAM-SHA-256',
      data: null,
    });
  });

  for (const [name, body] of [
    ['with data shorter than announced', Buffer.concat([cstr('SCRAM-SHA-256'), i32(10), Buffer.from('abc')])],
    ['with length -2', Buffer.concat([cstr('SCRAM-SHA-256'), i32(-2)])],
    ['without length', cstr('SCRAM-SHA-256')],
    ['with trailing bytes', Buffer.concat([cstr('SCRAM-SHA-256'), i32(1), Buffer.from('ab')])],
  ] as const) {
    it(`rejects a SASLInitialResponse ${name}`, () => {
      assert.ok(readSaslInitialResponse(auth(body)) instanceof ProtocolError);
    });
  }
});
