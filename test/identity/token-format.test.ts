import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSecret, newId, secretKind } from '../../src/identity/token-format.ts';

test('record ids are unique and sort in creation order across milliseconds', async () => {
  const first = Array.from({ length: 5000 }, () => newId('int'));
  await new Promise((resolve) => setTimeout(resolve, 5));
  const later = newId('int');
  assert.equal(new Set(first).size, first.length);
  for (const id of first) {
    assert.match(id, /^int_[0-9a-f]{26}$/);
    assert.ok(id < later, `${id} should sort before ${later}, made 5 ms later`);
  }
});

test('secrets carry their kind in the prefix and ids never look like secrets', () => {
  const secret = generateSecret('gth_');
  assert.match(secret, /^gth_[0-9A-Za-z]{40}$/);
  assert.equal(secretKind(secret), 'agent');
  assert.equal(secretKind(newId('tok')), null);
});
