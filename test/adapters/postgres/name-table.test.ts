import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NameTable, type Outcome } from '../../../src/adapters/postgres/name-table.ts';

const merged = (a: string, b: string) => `${a}|${b}`;

/** [name, existing value or undefined, outcome, what the name means afterwards] */
const cases: [string, string | undefined, Outcome, string | undefined][] = [
  ['', undefined, 'ok', 'new'],
  ['', undefined, 'failed', undefined],
  ['', undefined, 'skipped', undefined],
  ['', 'old', 'ok', 'new'],
  ['', 'old', 'failed', undefined], // PostgreSQL drops the unnamed statement before parsing
  ['', 'old', 'skipped', 'old'], // a skipped message changed nothing
  ['s', undefined, 'ok', 'new'],
  ['s', undefined, 'failed', undefined],
  ['s', undefined, 'skipped', undefined],
  ['s', 'old', 'ok', 'new'], // it succeeded, so the old one had been deallocated behind our back
  ['s', 'old', 'failed', 'old'], // "already exists"
  ['s', 'old', 'skipped', 'old'],
];

describe('NameTable', () => {
  for (const [name, existing, outcome, after] of cases) {
    it(`${JSON.stringify(name)} ${existing ? 'in use' : 'new'}, ${outcome} → ${after ?? 'absent'}`, () => {
      const table = new NameTable<string>(merged);
      if (existing) table.settle(table.define(name, existing), 'ok');
      const def = table.define(name, 'new');
      // until the server answers, a reused name means both: checked as the stricter union
      assert.equal(table.get(name), name !== '' && existing ? 'old|new' : 'new');
      table.settle(def, outcome);
      assert.equal(table.get(name), after);
    });
  }

  it('leaves a later definition of the same name alone when an earlier one settles', () => {
    const table = new NameTable<string>(merged);
    const first = table.define('', 'a');
    table.define('', 'b');
    table.settle(first, 'failed');
    assert.equal(table.get(''), 'b');
  });
});
