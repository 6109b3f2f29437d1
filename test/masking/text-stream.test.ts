import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskingError } from '../../src/errors.ts';
import type { MaskProfile } from '../../src/masking/index.ts';
import { profileOf } from './profile-fixture.ts';

const pii = profileOf({ entities: { secret: 'redact', pii: 'redact', phone: 'partial', email: 'pseudonym' } });

function streamIn(profile: MaskProfile, chunks: readonly string[]): { out: string; early: string } {
  const s = profile.createTextStream();
  let out = '';
  for (const c of chunks) out += s.push(c);
  const early = out;
  return { out: out + s.end(), early };
}

function splitEvery(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks;
}

const SECRETS: readonly [string, string][] = [
  ['aws key', 'AKIAIOSFODNN7EXAMPLE'],
  ['card', '4242 4242 4242 4242'],
  ['email', 'maria.garcia@example.com'],
  ['phone', '+44 20 7946 0958'],
  ['iban', 'GB82 WEST 1234 5698 7654 32'],
  ['github token', 'ghp_Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0AyaB3c'],
];

for (const [name, secret] of SECRETS) {
  const text = `Sure — the value is ${secret} and nothing else.`;
  const expected = pii.maskText(text).text;
  test(`${name} split across 2, 3 and one-char chunks is masked like the whole text`, () => {
    assert.notEqual(expected, text);
    const at = text.indexOf(secret);
    const splits: string[][] = [
      [text.slice(0, at + 3), text.slice(at + 3)],
      [text.slice(0, at + 2), text.slice(at + 2, at + secret.length - 2), text.slice(at + secret.length - 2)],
      splitEvery(text, 1),
      splitEvery(text, 3),
    ];
    for (let i = 1; i < text.length; i++) splits.push([text.slice(0, i), text.slice(i)]);
    for (const chunks of splits) {
      const { out } = streamIn(pii, chunks);
      assert.equal(out, expected, JSON.stringify(chunks));
      assert.ok(!out.includes(secret));
    }
  });
}

test('text that cannot be part of a value is released at once', () => {
  const s = pii.createTextStream();
  assert.equal(s.push('Hello there, the key is '), 'Hello there, the key is ');
  assert.equal(s.push('AKIAIOSF'), '');
  assert.equal(s.push('ODNN7EXAMPLE and more'), '[AWS_ACCESS_KEY] and ');
  assert.equal(s.end(), 'more');
});

test('a word is held only until the next blank, like a token stream', () => {
  const s = pii.createTextStream();
  let released = '';
  for (const token of ['The', ' export', ' failed', ' again']) released += s.push(token);
  assert.equal(released, 'The export failed ');
  assert.equal(s.end(), 'again');
});

test('the digits of a spaced number are held until it is complete', () => {
  const s = pii.createTextStream();
  assert.equal(s.push('call +44 20 '), 'call ');
  assert.equal(s.push('7946 '), '');
  assert.equal(s.push('0958 now'), '****0958 ');
  assert.equal(s.end(), 'now');
});

test('findings carry offsets in the whole stream', () => {
  const s = pii.createTextStream();
  const text = 'mail maria@example.com and key AKIAIOSFODNN7EXAMPLE ok';
  for (const c of splitEvery(text, 4)) s.push(c);
  s.end();
  assert.deepEqual(
    s.findings.map((f) => [f.type, text.slice(f.start, f.end)]),
    [
      ['email', 'maria@example.com'],
      ['aws_access_key', 'AKIAIOSFODNN7EXAMPLE'],
    ],
  );
});

test('a JWT longer than the hold-back window is suppressed whole, never released in pieces', () => {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64({ sub: 'user_12345678', scope: 'a'.repeat(300) })}.${'Sig_'.repeat(80)}`;
  const p = profileOf({ entities: { secret: 'pseudonym' }, holdBack: 64 });
  const text = `Bearer ${jwt} is what I sent`;
  for (const size of [1, 5, 64]) {
    const s = p.createTextStream();
    let out = '';
    let fedAtLabel = -1;
    let fed = 0;
    for (const c of splitEvery(text, size)) {
      out += s.push(c);
      fed += c.length;
      if (fedAtLabel === -1 && out.includes('[JWT]')) fedAtLabel = fed;
    }
    out += s.end();
    assert.equal(out, 'Bearer [JWT] is what I sent');
    // The label goes out (and the rest is dropped) once the run outgrows the window, not at its end.
    assert.ok(fedAtLabel !== -1 && fedAtLabel <= 'Bearer '.length + 64 + 2 * size, `label after ${fedAtLabel} chars`);
    assert.deepEqual(s.findings.map((f) => [f.type, f.start, f.end]), [['jwt', 7, 7 + jwt.length]]);
  }
});

test('a private key block is suppressed from its header to its footer', () => {
  const body = Array.from({ length: 30 }, (_, i) => `MIIEv${i}QIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7`).join('\n');
  const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body}\n-----END RSA PRIVATE KEY-----`;
  const text = `key:\n${pem}\nkeep this line`;
  for (const size of [1, 7, 100]) {
    const { out } = streamIn(pii, splitEvery(text, size));
    assert.equal(out, 'key:\n[PRIVATE_KEY]\nkeep this line');
  }
  // delivered in one piece, the whole block is seen at once and masked normally
  assert.equal(streamIn(pii, [text]).out, 'key:\n[PRIVATE_KEY]\nkeep this line');
});

test('a stream that ends inside a private key releases nothing more of it', () => {
  const { out } = streamIn(pii, ['a\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'BKcwggSjAgEAAoIBAQC7']);
  assert.equal(out, 'a\n[PRIVATE_KEY]');
});

test('a long harmless run is released once it outgrows the window', () => {
  const p = profileOf({ entities: { secret: 'redact' }, holdBack: 64 });
  const s = p.createTextStream();
  const blob = 'x'.repeat(500);
  const released = s.push(blob);
  assert.ok(released.length >= 500 - 64, `released ${released.length}`);
  assert.equal(released + s.end(), blob);
});

test('a minified JSON line longer than the window is cut between values, not inside one', () => {
  const p = profileOf({ entities: { secret: 'redact' }, holdBack: 64 });
  const key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  // Different padding puts the window's forced cuts at every offset of the key.
  for (let pad = 40; pad < 80; pad++) {
    const json = JSON.stringify({ note: 'x'.repeat(pad), provider: 'aws', value: key, more: 'y'.repeat(80) });
    for (const size of [1, 3]) {
      const { out } = streamIn(p, splitEvery(json, size));
      assert.equal(out, json.replace(key, '[AWS_SECRET_KEY]'), `pad ${pad}, chunks of ${size}`);
    }
  }
});

test('end() releases everything and the stream refuses further use', () => {
  const s = pii.createTextStream();
  assert.equal(s.push('a@example.com'), '');
  assert.match(s.end(), /^EMAIL_[0-9a-f]{8}$/);
  assert.throws(() => s.push('x'), (err: unknown) => err instanceof MaskingError && err.code === 'masking_failed');
});

test('with person names on, Title-case words are held so a split name is still caught', () => {
  const p = profileOf({ entities: { person: 'redact' } });
  const { out } = streamIn(p, ['Yesterday John', ' Smith', ' called about', ' the refund.']);
  assert.equal(out, p.maskText('Yesterday John Smith called about the refund.').text);
  assert.match(out, /\[PERSON\]/);
});

test('patterns that may span a blank hold a fixed window', () => {
  const p = profileOf({ entities: {}, patterns: [{ name: 'ticket', regex: 'case number \\d+' }] });
  const text = 'see case number 4521 for details and more text after it';
  const { out } = streamIn(p, splitEvery(text, 2));
  assert.equal(out, 'see [TICKET] for details and more text after it');
});
