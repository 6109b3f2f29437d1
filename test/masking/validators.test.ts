import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase64UrlJson, luhnValid, mod97Valid, shannonEntropy } from '../../src/masking/validators.ts';

test('luhn accepts issued test numbers and rejects one-digit changes', () => {
  for (const n of ['4242424242424242', '4111 1111 1111 1111', '378282246310005', '6011-1111-1111-1117']) assert.equal(luhnValid(n), true, n);
  for (const n of ['4242424242424241', '4111 1111 1111 1112', '378282246310006', '7']) assert.equal(luhnValid(n), false, n);
});

test('mod97 accepts valid IBANs in either spelling and rejects swapped digits', () => {
  for (const n of ['GB82WEST12345698765432', 'gb82 west 1234 5698 7654 32', 'DE89370400440532013000']) assert.equal(mod97Valid(n), true, n);
  for (const n of ['GB82WEST12345698765423', 'DE89370400440532013001', 'GB8', 'GB82-WEST']) assert.equal(mod97Valid(n), false, n);
});

test('entropy separates random strings from repetitive ones', () => {
  assert.equal(shannonEntropy(''), 0);
  assert.equal(shannonEntropy('aaaaaaaa'), 0);
  assert.ok(shannonEntropy('Xk9#mP2$vL7q') > 3.5);
});

test('decodeBase64UrlJson returns the JSON or null', () => {
  assert.deepEqual(decodeBase64UrlJson(Buffer.from('{"alg":"HS256"}').toString('base64url')), { alg: 'HS256' });
  assert.equal(decodeBase64UrlJson('not base64 json'), null);
  assert.equal(decodeBase64UrlJson(''), null);
});
