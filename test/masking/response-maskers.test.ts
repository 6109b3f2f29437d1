import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { MaskingError } from '../../src/errors.ts';
import {
  type BodyResponseMasker,
  reassembleSseTranscript,
  type ResponseMasker,
  responseMaskerFor,
  type ResponseTarget,
  type StreamResponseMasker,
} from '../../src/masking/index.ts';
import { chatEvent, clientEvents, completionEvent, pii, responsesEvent, splitEvery } from './sse-fixture.ts';

const LIMITS = { maxBodyBytes: 1024 * 1024, transcriptBytes: 4096 };
const SECRET = 'AKIAIOSFODNN7EXAMPLE';
const isMasking = (err: unknown): boolean => err instanceof MaskingError && err.code === 'masking_failed';

function target(contentType: string, contentEncoding = '', connectionType = 'openai'): ResponseTarget {
  return { connectionType, contentType, contentEncoding };
}

function asStream(m: ResponseMasker): StreamResponseMasker {
  assert.equal(m.mode, 'stream');
  return m as StreamResponseMasker;
}

function asBody(m: ResponseMasker): BodyResponseMasker {
  assert.equal(m.mode, 'body');
  return m as BodyResponseMasker;
}

function streamAll(m: StreamResponseMasker, chunks: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const out = m.push(c);
    parts.push(typeof out === 'string' ? Buffer.from(out) : out);
  }
  const end = m.end();
  parts.push(typeof end === 'string' ? Buffer.from(end) : end);
  return Buffer.concat(parts);
}

const SSE_SAMPLE =
  chatEvent({ role: 'assistant', content: '' }) +
  chatEvent({ content: 'Hello ' }) +
  chatEvent({ content: 'world' }) +
  chatEvent({ refusal: 'I will not' }, null, 1) +
  chatEvent({ reasoning_content: 'thinking…' }) +
  chatEvent({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":' } }] }) +
  chatEvent({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }) +
  completionEvent('legacy text', 2) +
  responsesEvent('response.output_text.delta', { item_id: 'm', output_index: 0, content_index: 0, delta: ' from responses' }) +
  'data: [DONE]\n\n';

test('no profile: every kind of body streams through byte for byte, non-UTF-8 bytes included', () => {
  const odd = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x64, 0x61, 0x74, 0x61, 0x3a, 0x0a, 0x0a, 0xc3]);
  for (const [contentType, encoding] of [
    ['text/event-stream', ''],
    ['text/event-stream; charset=latin1', ''],
    ['application/json', ''],
    ['text/plain; charset=iso-8859-1', ''],
    ['application/octet-stream', ''],
    ['', ''],
    ['application/json', 'gzip'],
    ['text/event-stream', 'zstd'],
  ] as const) {
    const m = asStream(responseMaskerFor(null, target(contentType, encoding), LIMITS));
    assert.equal(m.decodes, false);
    for (const chunk of [odd, Buffer.from(SSE_SAMPLE), Buffer.alloc(0)]) assert.equal(m.push(chunk), chunk, `${contentType} passes the same buffer`);
    assert.equal(String(m.end()), '');
  }
});

test('no profile: the SSE transcript is the reassembled answer, from the same parser as the masker', () => {
  const m = asStream(responseMaskerFor(null, target('text/event-stream'), LIMITS));
  streamAll(m, splitEvery(SSE_SAMPLE, 3).map((s) => Buffer.from(s)));
  const expected = [
    'Hello world',
    ' from responses',
    '[choice 1] [refusal] I will not',
    '[reasoning] thinking…',
    '[tool call] lookup({"q":"x"})',
    '[choice 2] legacy text',
  ];
  assert.deepEqual(m.transcript().split('\n').sort(), [...expected].sort());
  assert.equal(m.transcript(), reassembleSseTranscript(SSE_SAMPLE));
});

test('no profile: text keeps its first transcriptBytes, binary and compressed bodies a description', () => {
  const text = asStream(responseMaskerFor(null, target('application/json'), { ...LIMITS, transcriptBytes: 10 }));
  streamAll(text, [Buffer.from('{"a":"ü'), Buffer.from('bcdefgh"}')]);
  assert.equal(text.transcript(), '{"a":"übc');
  const cases: [string, string, string][] = [
    ['application/octet-stream', '', '[application/octet-stream, 12 bytes]'],
    ['', '', '[body, 12 bytes]'],
    ['application/json', 'gzip', '[application/json, 12 bytes, compressed]'],
  ];
  for (const [contentType, encoding, expected] of cases) {
    const m = asStream(responseMaskerFor(null, target(contentType, encoding), LIMITS));
    streamAll(m, [Buffer.alloc(5), Buffer.alloc(7)]);
    assert.equal(m.transcript(), expected);
  }
});

test('no profile: a transcript stops at its limit', () => {
  const m = asStream(responseMaskerFor(null, target('text/event-stream'), { ...LIMITS, transcriptBytes: 20 }));
  streamAll(m, [Buffer.from(chatEvent({ content: 'x'.repeat(15) }) + chatEvent({ content: 'y'.repeat(15) }) + chatEvent({ content: 'z' }))]);
  assert.equal(m.transcript(), `${'x'.repeat(15)}yyyyy\n[transcript truncated]`);
});

test('under a profile an event stream is masked as it flows; its transcript is masked', () => {
  const m = asStream(responseMaskerFor(pii, target('text/event-stream; charset=utf-8'), LIMITS));
  assert.equal(m.decodes, false);
  const out = streamAll(m, [Buffer.from(chatEvent({ content: 'key AKIAIOS' })), Buffer.from(chatEvent({ content: 'FODNN7EXAMPLE' }) + 'data: [DONE]\n\n')]);
  assert.equal(reassembleSseTranscript(out.toString()), 'key [AWS_ACCESS_KEY]');
  assert.equal(m.transcript(), 'key [AWS_ACCESS_KEY]');
});

test('under a profile JSON, text, NDJSON and forms are masked whole; unchanged bodies keep their bytes', () => {
  const json = asBody(responseMaskerFor(pii, target('application/json; charset=utf-8'), LIMITS));
  const masked = json.mask(Buffer.from(`{"key":"${SECRET}","n":1}`));
  assert.equal(String(masked.body), '{"key":"[AWS_ACCESS_KEY]","n":1}');
  assert.equal(masked.transcript, '{"key":"[AWS_ACCESS_KEY]","n":1}');
  const clean = Buffer.from('{ "plain" :  "text" }');
  assert.equal(json.mask(clean).body, clean);

  const problem = asBody(responseMaskerFor(pii, target('application/problem+json'), LIMITS));
  assert.equal(String(problem.mask(Buffer.from(`{"detail":"${SECRET}"}`)).body), '{"detail":"[AWS_ACCESS_KEY]"}');

  const text = asBody(responseMaskerFor(pii, target('text/html'), LIMITS));
  assert.equal(String(text.mask(Buffer.from(`<p>${SECRET}</p>`)).body), '<p>[AWS_ACCESS_KEY]</p>');
  const latinBytes = Buffer.from([0x3c, 0x70, 0x3e, 0xe9, 0x3c]);
  assert.equal(text.mask(latinBytes).body, latinBytes, 'undecodable bytes with nothing to mask go on as they came');

  const ndjson = asBody(responseMaskerFor(pii, target('application/x-ndjson'), LIMITS));
  assert.equal(String(ndjson.mask(Buffer.from(`{"a":1}\n{"b":"${SECRET}"}\n`)).body), '{"a":1}\n{"b":"[AWS_ACCESS_KEY]"}\n');

  const form = asBody(responseMaskerFor(pii, target('application/x-www-form-urlencoded'), LIMITS));
  const encoded = `token=${encodeURIComponent(SECRET).replace(/A/g, '%41')}&mail=maria%40example.com`;
  const formOut = String(form.mask(Buffer.from(encoded)).body);
  assert.ok(!new URLSearchParams(formOut).get('token')!.includes(SECRET));
  assert.equal(new URLSearchParams(formOut).get('mail'), '[EMAIL]');
});

test('under a profile, gzip, x-gzip, deflate (zlib or raw), br and lists of them are decoded, then masked', () => {
  const body = Buffer.from(`{"key":"${SECRET}"}`);
  const cases: [string, Buffer][] = [
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['deflate', deflateRawSync(body)],
    ['br', brotliCompressSync(body)],
    ['gzip, br', brotliCompressSync(gzipSync(body))],
    ['GZIP, identity', gzipSync(body)],
  ];
  for (const [encoding, wire] of cases) {
    const m = asBody(responseMaskerFor(pii, target('application/json', encoding), LIMITS));
    assert.equal(m.decodes, true, encoding);
    assert.equal(String(m.mask(wire).body), '{"key":"[AWS_ACCESS_KEY]"}', encoding);
  }
});

test('under a profile a compressed event stream is read whole, decoded and masked', () => {
  const sse = chatEvent({ content: 'key AKIAIOS' }) + chatEvent({ content: 'FODNN7EXAMPLE' }) + 'data: [DONE]\n\n';
  const m = asBody(responseMaskerFor(pii, target('text/event-stream', 'gzip'), LIMITS));
  assert.equal(m.decodes, true);
  const out = m.mask(gzipSync(sse));
  assert.equal(reassembleSseTranscript(String(out.body)), 'key [AWS_ACCESS_KEY]');
  assert.equal(out.transcript, 'key [AWS_ACCESS_KEY]');
});

test('under a profile, what cannot be placed is refused with masking_failed, never quoting the body', () => {
  for (const [contentType, encoding] of [
    ['application/octet-stream', ''],
    ['image/png', ''],
    ['audio/mpeg', ''],
    ['application/pdf', ''],
    ['application/json', 'zstd'],
    ['application/json', 'gzip, compress'],
    ['text/plain; charset=x-no-such-charset', ''],
  ] as const) {
    assert.throws(() => responseMaskerFor(pii, target(contentType, encoding), LIMITS), isMasking, `${contentType} ${encoding}`);
  }
  // No content type: a body is refused, an empty one (204, HEAD) is not.
  const none = asBody(responseMaskerFor(pii, target(''), LIMITS));
  assert.throws(() => none.mask(Buffer.from(SECRET)), (err: unknown) => isMasking(err) && !(err as Error).message.includes(SECRET));
  assert.equal(none.mask(Buffer.alloc(0)).body.length, 0);
});

test('under a profile a decompression bomb, a corrupt encoding, an oversized body and broken JSON fail closed', () => {
  const small = { ...LIMITS, maxBodyBytes: 64 * 1024 };
  const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x61));
  assert.ok(bomb.length < small.maxBodyBytes);
  assert.throws(() => asBody(responseMaskerFor(pii, target('text/plain', 'gzip'), small)).mask(bomb), isMasking);
  assert.throws(() => asBody(responseMaskerFor(pii, target('text/plain', 'br'), small)).mask(brotliCompressSync(Buffer.alloc(1024 * 1024))), isMasking);
  assert.throws(() => asBody(responseMaskerFor(pii, target('text/plain', 'gzip'), small)).mask(gzipSync(`x ${SECRET}`).subarray(0, 15)), isMasking);
  assert.throws(() => asBody(responseMaskerFor(pii, target('text/plain'), small)).mask(Buffer.alloc(small.maxBodyBytes + 1, 0x61)), isMasking);
  assert.throws(
    () => asBody(responseMaskerFor(pii, target('application/json'), LIMITS)).mask(Buffer.from(`{"key":"${SECRET}"`)),
    (err: unknown) => isMasking(err) && !(err as Error).message.includes(SECRET),
  );
});

test('under a profile a stream failure ends with an error event a client can read', () => {
  const m = asStream(responseMaskerFor(pii, target('text/event-stream'), LIMITS));
  let failure = '';
  try {
    m.push(Buffer.from(`data: plain ${SECRET}\n\n`));
  } catch (err) {
    assert.ok(isMasking(err));
    failure = String(m.failure(err as Error));
  }
  const events = clientEvents(failure);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type, 'error');
  assert.equal(JSON.parse(events[0]!.data!).error.code, 'masking_failed');
  assert.ok(!failure.includes(SECRET));
});

test('under a profile a declared charset is decoded to scan and written back in that charset when masked', () => {
  const latin = asBody(responseMaskerFor(pii, target('text/plain; charset=iso-8859-1'), LIMITS));
  const clean = Buffer.from('Café à la crème, 12,50 €', 'latin1');
  assert.equal(latin.mask(clean).body, clean, 'nothing masked: the same bytes');
  const out = latin.mask(Buffer.from(`Clé: ${SECRET} é`, 'latin1'));
  assert.deepEqual(out.body, Buffer.from('Clé: [AWS_ACCESS_KEY] é', 'latin1'));
  assert.equal(out.transcript, 'Clé: [AWS_ACCESS_KEY] é');

  const utf16 = asBody(responseMaskerFor(pii, target('application/json; charset="utf-16le"'), LIMITS));
  const masked = utf16.mask(Buffer.from(JSON.stringify({ key: SECRET }), 'utf16le')).body as Buffer;
  assert.equal(masked.toString('utf16le'), JSON.stringify({ key: '[AWS_ACCESS_KEY]' }));

  // Shift_JIS can be read but not written here: clean text passes, masked text is withheld.
  const sjis = asBody(responseMaskerFor(pii, target('text/plain; charset=shift_jis'), LIMITS));
  const plain = Buffer.from([0x82, 0xa0, 0x20, 0x61]);
  assert.equal(sjis.mask(plain).body, plain);
  assert.throws(() => sjis.mask(Buffer.from(`key ${SECRET}`)), isMasking);
  assert.throws(() => sjis.mask(Buffer.from([0x82])), isMasking, 'invalid bytes in the charset fail closed');
});

test('under a profile JSON naming a key twice is withheld, and form pairs are read decoded', () => {
  const json = asBody(responseMaskerFor(pii, target('application/json'), LIMITS));
  assert.throws(() => json.mask(Buffer.from(`{"a":"${SECRET}","a":"x"}`)), isMasking);
  assert.throws(() => json.mask(Buffer.from(`[{"n":{"a":1,"\u0061":2}}]`)), isMasking);
  const form = asBody(responseMaskerFor(pii, target('application/x-www-form-urlencoded'), LIMITS));
  const sent = 'a=1&key=AKIA%49OSFODNN7EXAMPLE&b=x+y';
  assert.equal(String(form.mask(Buffer.from(sent)).body), 'a=1&key=%5BAWS_ACCESS_KEY%5D&b=x+y');
  assert.equal(form.mask(Buffer.from('a=1&b=%ZZ+x')).body.toString(), 'a=1&b=%ZZ+x');
});
