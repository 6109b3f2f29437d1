import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import { profileOf } from './profile-fixture.ts';

function assertMaskingFailed(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed');
}

test('a body over maxScanBytes is refused by every surface', () => {
  const p = profileOf({ entities: { email: 'redact' }, maxScanBytes: 64 });
  const big = `${'x'.repeat(60)} maria@example.com`;
  assertMaskingFailed(() => p.maskText(big));
  assertMaskingFailed(() => p.maskJsonText(JSON.stringify({ a: big })));
  assertMaskingFailed(() => p.maskJson({ a: big }));
  assertMaskingFailed(() => p.maskRow(['a'], [big]));
  assertMaskingFailed(() => p.detectEntities(big));
  // within the limit it works
  assert.equal(p.maskText('maria@example.com').text, '[EMAIL]');
});

test('the limit counts UTF-8 bytes, not characters', () => {
  const p = profileOf({ entities: { email: 'redact' }, maxScanBytes: 10 });
  assert.equal(p.maskText('ééééé').text, 'ééééé');
  assertMaskingFailed(() => p.maskText('éééééé'));
});

test('onOversize: truncate cuts at the limit and masks what is left', () => {
  const p = profileOf({ entities: { email: 'redact' }, maxScanBytes: 30, onOversize: 'truncate' });
  const r = p.maskText('mail maria@example.com, then a long tail that gets cut');
  assert.equal(r.text, 'mail [EMAIL], then a');
  assert.equal(Buffer.byteLength('mail maria@example.com, then a'), 30);
  // a multi-byte character cut in half is dropped, not turned into U+FFFD
  assert.equal(p.maskText(`${'a'.repeat(29)}é`).text, 'a'.repeat(29));
  // truncated JSON no longer parses: the head is masked as text
  const json = p.maskJsonText(JSON.stringify({ to: 'maria@example.com', pad: 'x'.repeat(40) }));
  assert.equal(json.text, '{"to":"[EMAIL]","pad');
});

test('a body that is not JSON is refused, never passed through', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  for (const body of ['{"to": "maria@example.com"', 'maria@example.com', '']) {
    assertMaskingFailed(() => p.maskJsonText(body));
  }
});

test('an internal failure surfaces as MaskingError with the cause kept', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  const hostile = {
    get content(): string {
      throw new Error('boom');
    },
  };
  assert.throws(
    () => p.maskJson(hostile),
    (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed' && (err.cause as Error).message === 'boom',
  );
});

test('the profile and its results are safe to share', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  assert.ok(Object.isFrozen(p));
  assert.deepEqual([...p.styles], [['email', 'redact']]);
});
