import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.ts';
import { createSecretBox, hashToken, parseMasterKey } from '../../src/store/secret-box.ts';

const SECRET = 'sk-live-upstream-credential-0123456789';
const key = randomBytes(32);
const box = createSecretBox(key);

function openFailure(run: () => unknown): GatewayError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    return err;
  }
  assert.fail('open must fail');
}

function flipByte(ciphertext: string, index: number): string {
  const raw = Buffer.from(ciphertext.slice(3), 'base64');
  raw[index]! ^= 0x01;
  return `v1:${raw.toString('base64')}`;
}

describe('secret box', () => {
  it('round-trips, with a fresh IV each time', () => {
    const a = box.seal(SECRET, 'connection:openai');
    const b = box.seal(SECRET, 'connection:openai');
    assert.match(a, /^v1:[A-Za-z0-9+/]+=*$/);
    assert.notEqual(a, b);
    assert.equal(box.open(a, 'connection:openai'), SECRET);
    assert.equal(box.open(box.seal('', 'x'), 'x'), '');
    assert.equal(box.open(box.seal('ünïcödé ✓', 'x'), 'x'), 'ünïcödé ✓');
  });

  it('never shows the plaintext in the ciphertext', () => {
    const sealed = box.seal(SECRET, 'connection:openai');
    assert.ok(!sealed.includes(SECRET));
    assert.ok(!Buffer.from(sealed.slice(3), 'base64').toString('latin1').includes(SECRET));
  });

  const sealed = box.seal(SECRET, 'connection:openai');
  const failures: [string, () => unknown][] = [
    ['another master key', () => createSecretBox(randomBytes(32)).open(sealed, 'connection:openai')],
    ['a ciphertext moved to another row', () => box.open(sealed, 'connection:prod-db')],
    ['a flipped IV byte', () => box.open(flipByte(sealed, 0), 'connection:openai')],
    ['a flipped tag byte', () => box.open(flipByte(sealed, 14), 'connection:openai')],
    ['a flipped ciphertext byte', () => box.open(flipByte(sealed, 30), 'connection:openai')],
    ['a truncated ciphertext', () => box.open(sealed.slice(0, 20), 'connection:openai')],
    ['an unknown version', () => box.open(`v2:${sealed.slice(3)}`, 'connection:openai')],
  ];
  for (const [name, run] of failures) {
    it(`refuses ${name} with a typed error that does not contain the secret`, () => {
      const err = openFailure(run);
      assert.equal(err.code, 'internal');
      assert.ok(!err.message.includes(SECRET));
    });
  }

  it('needs a 32-byte key', () => {
    assert.throws(() => createSecretBox(randomBytes(16)), (err: unknown) => err instanceof GatewayError && err.code === 'config_invalid');
  });
});

describe('parseMasterKey', () => {
  const raw = randomBytes(32);
  for (const [name, text] of [
    ['hex', raw.toString('hex')],
    ['upper-case hex with whitespace', ` ${raw.toString('hex').toUpperCase()}\n`],
    ['base64', raw.toString('base64')],
    ['base64url', raw.toString('base64url')],
  ] as const) {
    it(`accepts ${name}`, () => {
      assert.deepEqual(parseMasterKey(text), raw);
    });
  }

  for (const [name, text] of [
    ['a passphrase', 'correct horse battery staple secret'],
    ['too short hex', raw.toString('hex').slice(0, 62)],
    ['base64 of 31 bytes', randomBytes(31).toString('base64')],
    ['hex with a stray character', `${raw.toString('hex').slice(0, 63)}g`],
    ['empty', ''],
  ] as const) {
    it(`rejects ${name} without echoing it`, () => {
      assert.throws(
        () => parseMasterKey(text),
        (err: unknown) =>
          err instanceof GatewayError && err.code === 'config_invalid' && (text.trim() === '' || !err.message.includes(text.trim())),
      );
    });
  }
});

describe('hashToken', () => {
  it('is the SHA-256 hex of the token, different for different tokens', () => {
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.notEqual(hashToken('gth_a'), hashToken('gth_b'));
  });
});
