/**
 * The per-request scan budget (issue 19, item 3): one request's bodies, stream chunks, rows and
 * values all draw on one budget of bytes and detector work; past it masking fails (MaskingError),
 * so the caller refuses the rest and nothing unscanned is passed on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { maskingProfileSchema } from '../../src/masking/config.ts';
import { profileOf } from './profile-fixture.ts';

const refused = (fn: () => unknown, key: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed' && key.test(err.message));

describe('one budget per request, across every call of the request', () => {
  const small = () => profileOf({ entities: { email: 'redact' }, maxRequestScanBytes: 1000 });

  it('defaults: 256 MiB and 16 Gi units of detector work per request', () => {
    const cfg = maskingProfileSchema.parse({});
    assert.equal(cfg.maxRequestScanBytes, 256 * 1024 * 1024);
    assert.equal(cfg.maxRequestScanWork, 16 * 1024 * 1024 * 1024);
  });

  it('ten 100-byte texts fit, the eleventh is refused', () => {
    const request = small().forRequest();
    for (let i = 0; i < 10; i++) request.maskText('x'.repeat(100));
    refused(() => request.maskText('x'.repeat(100)), /maxRequestScanBytes/);
  });

  it('a result of many rows adds up: row 11 of 100 bytes is refused', () => {
    const request = small().forRequest();
    for (let i = 0; i < 10; i++) request.maskRow(['note'], ['y'.repeat(100)]);
    refused(() => request.maskRow(['note'], ['y'.repeat(100)]), /maxRequestScanBytes/);
  });

  it('a stream of a thousand small chunks adds up, and the chunk that crosses the limit is not released', () => {
    const stream = small().forRequest().createTextStream();
    let released = '';
    let pushed = 0;
    assert.throws(() => {
      for (;;) {
        released += stream.push('mail a@example.com ');
        pushed++;
      }
    }, MaskingError);
    assert.ok(pushed > 0 && pushed < 1000);
    assert.ok(!released.includes('a@example.com'), 'nothing unmasked was released');
    assert.ok(Buffer.byteLength(released) <= 1000);
  });

  it('JSON strings count, in any nesting', () => {
    const request = small().forRequest();
    refused(() => request.maskJson({ a: ['z'.repeat(600), { b: 'z'.repeat(600) }] }), /maxRequestScanBytes/);
  });

  it('bytes are UTF-8 bytes: 400 three-byte characters are 1200 bytes', () => {
    refused(() => small().forRequest().maskText('€'.repeat(400)), /maxRequestScanBytes/);
  });

  it('bodies, streams and rows of one request share the budget', () => {
    const request = small().forRequest();
    request.maskJsonText(JSON.stringify({ q: 'q'.repeat(400) }));
    request.maskRow(['c'], ['r'.repeat(400)]);
    refused(() => request.createTextStream().push('s'.repeat(400)), /maxRequestScanBytes/);
  });

  it('each request starts afresh, and the profile outside a request keeps only its per-call limit', () => {
    const profile = small();
    const first = profile.forRequest();
    first.maskText('x'.repeat(900));
    profile.forRequest().maskText('x'.repeat(900));
    for (let i = 0; i < 5; i++) profile.maskText('x'.repeat(900));
    refused(() => first.maskText('x'.repeat(200)), /maxRequestScanBytes/);
  });

  it('truncate mode charges only the head it scans', () => {
    const request = profileOf({ entities: {}, maxScanBytes: 100, onOversize: 'truncate', maxRequestScanBytes: 1000 }).forRequest();
    for (let i = 0; i < 10; i++) assert.equal(request.maskText('t'.repeat(5000)).text.length, 100);
    refused(() => request.maskText('t'), /maxRequestScanBytes/);
  });
});

describe('detector work: bytes times the profile’s work per byte', () => {
  it('custom patterns and person weigh more than structured detectors', () => {
    const plain = profileOf({ entities: { email: 'redact', phone: 'redact' } });
    const patterns = profileOf({ entities: { email: 'redact', phone: 'redact' }, patterns: [{ name: 'emp', regex: 'EMP-\\d{6}' }] });
    const person = profileOf({ entities: { email: 'redact', phone: 'redact', person: 'redact' } });
    assert.equal(plain.workPerByte, 2);
    assert.equal(patterns.workPerByte, 10);
    assert.equal(person.workPerByte, 66);
  });

  it('a profile heavy with patterns runs out of work before it runs out of bytes', () => {
    const request = profileOf({
      entities: {},
      patterns: Array.from({ length: 10 }, (_, i) => ({ name: `p${i}`, regex: `P${i}-\\d{4}` })),
      maxRequestScanWork: 8000,
    }).forRequest();
    request.maskText('w'.repeat(99));
    refused(() => request.maskText('w'.repeat(2)), /maxRequestScanWork/);
  });

  it('a request that fails stays failed: later calls are refused too', () => {
    const request = profileOf({ entities: {}, maxRequestScanBytes: 10 }).forRequest();
    refused(() => request.maskText('0123456789ab'), /maxRequestScanBytes/);
    refused(() => request.maskText('x'), /maxRequestScanBytes/);
  });
});
