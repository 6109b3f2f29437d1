import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createLiteralRedactor,
  CREDENTIAL_REPLACEMENT,
  credentialValues,
  redactBuffer,
  redactLiterals,
} from '../../src/connections/credential-echo.ts';

const KEY = 'k3y/Value+with=odd"chars-0123456789';

/** Feeds `text` cut at every given offset and returns what came out. */
function streamed(values: readonly string[], text: string, cuts: readonly number[]): string {
  const redactor = createLiteralRedactor(values);
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(redactor.push(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(redactor.end());
  return Buffer.concat(out).toString();
}

describe('credentialValues', () => {
  it('has the raw, JSON-escaped, percent-encoded and base64 forms, longest first', () => {
    const values = credentialValues({ type: 'bearer', value: KEY });
    const lowerHex = encodeURIComponent(KEY).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
    for (const form of [KEY, JSON.stringify(KEY).slice(1, -1), JSON.stringify(KEY).slice(1, -1).replaceAll('/', '\\/'), encodeURIComponent(KEY), lowerHex]) {
      assert.ok(values.includes(form), `missing ${form}`);
    }
    assert.deepEqual([...values], [...values].sort((a, b) => b.length - a.length));
    assert.deepEqual(credentialValues(undefined), []);
  });

  it('finds the base64 of the value at every alignment inside a longer encoding', () => {
    const values = credentialValues({ type: 'bearer', value: KEY });
    for (const prefix of ['', 'B', 'Be', 'Bearer ']) {
      for (const alphabet of ['base64', 'base64url'] as const) {
        const encoded = Buffer.from(`${prefix}${KEY}; more`).toString(alphabet);
        const redacted = redactLiterals(encoded, values);
        assert.notEqual(redacted, encoded, `${alphabet} after ${JSON.stringify(prefix)}`);
        // What is left of the encoding cannot be decoded back to the value.
        assert.ok(!Buffer.from(redacted.replace(CREDENTIAL_REPLACEMENT, ''), alphabet).toString().includes(KEY));
      }
    }
  });

  it('covers the Basic pair and the password alone', () => {
    const values = credentialValues({ type: 'basic', username: 'svc', value: 'p4ssw0rd-long-enough' });
    assert.equal(redactLiterals(`Basic ${Buffer.from('svc:p4ssw0rd-long-enough').toString('base64')}`, values).includes('c3Zj'), false);
    assert.equal(redactLiterals('pw=p4ssw0rd-long-enough', values), `pw=${CREDENTIAL_REPLACEMENT}`);
  });

  it('skips forms too short to search for without false matches', () => {
    assert.deepEqual(credentialValues({ type: 'bearer', value: 'abc' }), []);
  });
});

describe('createLiteralRedactor', () => {
  const values = credentialValues({ type: 'bearer', value: KEY });
  const text = `{"echo":"Bearer ${JSON.stringify(KEY).slice(1, -1)}","raw":"${encodeURIComponent(KEY)}"} and ${KEY}.`;
  const whole = redactBuffer(Buffer.from(text), values).toString();

  it('redacts every form in a whole buffer', () => {
    assert.ok(!whole.includes(KEY));
    assert.ok(!whole.includes(encodeURIComponent(KEY)));
    assert.equal(whole.split(CREDENTIAL_REPLACEMENT).length - 1, 3);
  });

  it('gives the same output whatever the chunk boundaries, including one byte at a time', () => {
    const length = Buffer.byteLength(text);
    for (let cut = 1; cut < length; cut++) assert.equal(streamed(values, text, [cut]), whole, `cut at ${cut}`);
    assert.equal(streamed(values, text, Array.from({ length: length - 1 }, (_, i) => i + 1)), whole);
  });

  it('holds back nothing that could not begin a form, so events are not delayed', () => {
    const redactor = createLiteralRedactor(values);
    const event = Buffer.from('data: {"delta":"hello"}\n\n');
    assert.equal(redactor.push(event).toString(), event.toString());
    // A tail that starts the key waits for the next chunk.
    assert.equal(redactor.push(Buffer.from(`data: ${KEY.slice(0, 5)}`)).toString(), 'data: ');
    assert.equal(Buffer.concat([redactor.push(Buffer.from(KEY.slice(5))), redactor.end()]).toString(), CREDENTIAL_REPLACEMENT);
  });

  it('passes everything through untouched when the connection has no credential', () => {
    const redactor = createLiteralRedactor([]);
    const chunk = Buffer.from(KEY);
    assert.equal(redactor.push(chunk), chunk);
    assert.equal(redactor.end().length, 0);
    assert.equal(redactBuffer(chunk, []), chunk);
  });
});
