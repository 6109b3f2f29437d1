import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LruCache } from '../../../src/classify/sql/lru.ts';

describe('LruCache', () => {
  it('never holds more than its capacity, forgetting the oldest first', () => {
    const c = new LruCache<string, number>(3);
    for (let i = 0; i < 10; i++) c.set(`k${i}`, i);
    assert.equal(c.size, 3);
    assert.equal(c.get('k6'), undefined);
    assert.deepEqual(['k7', 'k8', 'k9'].map((k) => c.get(k)), [7, 8, 9]);
  });

  it('keeps what was read recently', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1);
    c.set('c', 3);
    assert.equal(c.get('b'), undefined, 'b was the least recently used');
    assert.equal(c.get('a'), 1);
    assert.equal(c.get('c'), 3);
  });

  it('replaces a value without growing', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('a', 2);
    assert.equal(c.size, 1);
    assert.equal(c.get('a'), 2);
  });
});
