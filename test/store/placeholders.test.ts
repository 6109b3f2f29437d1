import assert from 'node:assert/strict';
import { it } from 'node:test';
import { numberPlaceholders } from '../../src/store/placeholders.ts';

const CASES: [string, string][] = [
  ['SELECT 1', 'SELECT 1'],
  ['SELECT a FROM t WHERE b = ? AND c = ?', 'SELECT a FROM t WHERE b = $1 AND c = $2'],
  ["UPDATE t SET s = 'what?' WHERE id = ?", "UPDATE t SET s = 'what?' WHERE id = $1"],
  ["SELECT 'it''s ?', ? FROM t", "SELECT 'it''s ?', $1 FROM t"],
  ['VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', 'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)'],
];

for (const [input, expected] of CASES) {
  it(`numbers placeholders in ${JSON.stringify(input)}`, () => {
    assert.equal(numberPlaceholders(input), expected);
  });
}
