import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnwrittenAmounts } from '../../src/policy/unwritten-amounts.ts';

const MINUTE = 60_000;
const T = 1_000 * MINUTE;

describe('UnwrittenAmounts', () => {
  it('sums charges into one amount per key and minute', () => {
    const amounts = new UnwrittenAmounts();
    amounts.add('requests:a', T, 1);
    amounts.add('requests:a', T, 1);
    amounts.add('requests:a', T - MINUTE, 4);
    amounts.add('tokens:a', T, 250);
    assert.deepEqual(amounts.window('requests:a', T + 30_000), { start: T, current: 2, previous: 4 });
    assert.deepEqual(amounts.window('requests:b', T), { start: T, current: 0, previous: 0 });
  });

  it('takes only the keys asked for, ordered by key then minute, and leaves the rest', () => {
    const amounts = new UnwrittenAmounts();
    amounts.add('tokens:a', T, 5);
    amounts.add('requests:b', T, 1);
    amounts.add('requests:a', T, 1);
    amounts.add('requests:a', T - MINUTE, 2);
    assert.deepEqual(amounts.take(['tokens:a', 'requests:a', 'absent']), [
      { key: 'requests:a', start: T - MINUTE, amount: 2 },
      { key: 'requests:a', start: T, amount: 1 },
      { key: 'tokens:a', start: T, amount: 5 },
    ]);
    assert.deepEqual(amounts.take(), [{ key: 'requests:b', start: T, amount: 1 }]);
    assert.deepEqual(amounts.take(), []);
  });

  it('puts back what a failed write took, adding to what came meanwhile, minus minutes that no longer count', () => {
    const amounts = new UnwrittenAmounts();
    amounts.add('requests:a', T - 2 * MINUTE, 7);
    amounts.add('requests:a', T - MINUTE, 3);
    amounts.add('requests:a', T, 1);
    const taken = amounts.take();
    amounts.add('requests:a', T, 1);
    amounts.restore(taken, T + 10_000);
    assert.deepEqual(amounts.take(), [
      { key: 'requests:a', start: T - MINUTE, amount: 3 },
      { key: 'requests:a', start: T, amount: 2 },
    ]);
  });
});
