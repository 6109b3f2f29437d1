import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { BadRequest, MaskingError } from '../../src/errors.ts';
import { bodyScanText, maskRequestBody, outgoingRequestBody, parseRequestBody, type RequestBody } from '../../src/masking/request-body.ts';
import { profileOf } from './profile-fixture.ts';

const pii = profileOf({ entities: { secret: 'redact', pii: 'redact' } });
const KEY = 'AKIAIOSFODNN7EXAMPLE';
const OPTS = { json: false, maxDecodedBytes: 1024 * 1024 };
const parse = (raw: Buffer | string, contentType?: string, contentEncoding?: string, json = false): RequestBody =>
  parseRequestBody(typeof raw === 'string' ? Buffer.from(raw) : raw, { contentType, contentEncoding }, { ...OPTS, json });
const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

test('a body nothing masked is the same object, forwarded as its raw bytes', () => {
  for (const [raw, type, enc] of [
    [Buffer.from('{ "a" : "Caf\\u00e9" }'), 'application/json', undefined],
    [Buffer.from('Réunion à 14h', 'latin1'), 'text/plain; charset=iso-8859-1', undefined],
    [gzipSync('{"a":1}'), 'application/json', 'gzip'],
    [Buffer.from('q=a+b&page=2'), 'application/x-www-form-urlencoded', undefined],
    [Buffer.from([0x43, 0x61, 0x66, 0xe9]), 'text/plain', undefined],
  ] as const) {
    const body = parse(raw, type, enc);
    assert.equal(maskRequestBody(pii, body), body, type);
    const out = outgoingRequestBody(body, type)!;
    assert.ok(out.bytes.equals(raw));
    assert.equal(out.dropContentEncoding, false);
    assert.equal(out.contentType, null);
  }
});

test('a masked body is sent as UTF-8 text: decoded from its encoding, its charset relabelled', () => {
  const gz = maskRequestBody(pii, parse(gzipSync(`{"k":"${KEY}"}`), 'application/json', 'gzip'));
  assert.deepEqual(outgoingRequestBody(gz, 'application/json'), { bytes: Buffer.from('{"k":"[AWS_ACCESS_KEY]"}'), dropContentEncoding: true, contentType: null });
  const latin = maskRequestBody(pii, parse(Buffer.from(`Clé ${KEY}`, 'latin1'), 'text/plain; charset=ISO-8859-1'));
  const out = outgoingRequestBody(latin, 'text/plain; charset=ISO-8859-1')!;
  assert.equal(out.bytes.toString('utf8'), 'Clé [AWS_ACCESS_KEY]');
  assert.equal(out.contentType, 'text/plain; charset=utf-8');
  const deflated = maskRequestBody(pii, parse(deflateSync(`x ${KEY}`), 'text/plain', 'deflate'));
  assert.equal(outgoingRequestBody(deflated, 'text/plain')!.dropContentEncoding, true);
});

test('what cannot be read is opaque (refused under a profile), or a bad request where JSON is expected', () => {
  for (const [raw, type, enc] of [
    [Buffer.from('x'), 'text/plain', 'zstd'],
    [gzipSync('abc').subarray(0, 8), 'text/plain', 'gzip'],
    [gzipSync(Buffer.alloc(2 * 1024 * 1024)), 'text/plain', 'gzip'],
    [Buffer.from('x'), 'text/plain; charset=x-unknown', undefined],
  ] as const) {
    const body = parse(raw, type, enc);
    assert.equal(body.type, 'opaque');
    assert.ok(outgoingRequestBody(body, type)!.bytes.equals(raw), 'forwarded as sent without a profile');
    assert.throws(() => maskRequestBody(pii, body), code('masking_failed'));
    assert.throws(() => parse(raw, 'application/json', enc), code('bad_request'));
  }
  assert.throws(() => parse('{"a":', 'application/json'), BadRequest);
});

test('a classifying top-level key named twice is a bad request; any other duplicate is refused only under a profile', () => {
  assert.throws(() => parse('{"model":"a","model":"b"}', 'application/json'), code('bad_request'));
  assert.throws(() => parse('{"messages":[],"x":1,"messages":[]}', 'application/json'), code('bad_request'));
  const nested = parse('{"a":{"b":1,"b":2}}', 'application/json');
  assert.equal(nested.type === 'json' && nested.duplicateKeys, true);
  assert.throws(() => maskRequestBody(pii, nested), (err: unknown) => err instanceof BadRequest);
  assert.ok(!(maskRequestBody(pii, parse('{"a":1}', 'application/json')) instanceof MaskingError));
});

test('forms are scanned decoded, as key=value pairs; only a masked pair is re-encoded', () => {
  const sent = 'keep=%7Ea%2Bb&password=hunter2x9&k=AKIA%49OSFODNN7EXAMPLE&flag';
  const body = parse(sent, 'application/x-www-form-urlencoded');
  assert.equal(bodyScanText(body), 'keep=~a+b\npassword=hunter2x9\nk=AKIAIOSFODNN7EXAMPLE\nflag');
  const masked = maskRequestBody(pii, body);
  assert.equal(masked.type === 'text' && masked.text, 'keep=%7Ea%2Bb&password=%5BPASSWORD_ASSIGNMENT%5D&k=%5BAWS_ACCESS_KEY%5D&flag');
  const secretKey = maskRequestBody(pii, parse(`${KEY}=1`, 'application/x-www-form-urlencoded'));
  assert.equal(secretKey.type === 'text' && secretKey.text, '%5BAWS_ACCESS_KEY%5D=1');
});

test('policy scans a body as the upstream reads it, both values of a key named twice included', () => {
  assert.equal(bodyScanText(parse(Buffer.from('Caf\xe9', 'latin1'), 'text/plain; charset=latin1')), 'Café');
  const dup = parse(`{"n":"${KEY}","n":"x"}`, 'application/json');
  assert.ok(bodyScanText(dup).includes(KEY));
  assert.equal(bodyScanText(parse(Buffer.from('\ufeffhi', 'utf16le'), 'text/plain')), 'hi', 'a UTF-16 BOM is read');
});
