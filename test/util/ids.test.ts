import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from '../../src/util/ids.ts';

test('record ids carry their kind, are unique, and sort by the clock they were made with', () => {
  // The clock is passed in, so ordering is checked without waiting for real time to pass.
  const earlier = Array.from({ length: 5000 }, () => newId('int', 1_700_000_000_000));
  const later = newId('int', 1_700_000_000_001);
  assert.equal(new Set(earlier).size, earlier.length);
  for (const id of earlier) {
    assert.match(id, /^int_[0-9a-f]{26}$/);
    assert.ok(id < later, `${id} sorts before ${later}`);
  }
  assert.ok(newId('ses', 0).startsWith('ses_000000000000'));
});
