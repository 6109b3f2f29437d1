import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildFacts, failedFacts, sqlStatementNames } from '../../../src/classify/sql/facts.ts';
import { FactsCache } from '../../../src/classify/sql/facts-cache.ts';
import { sqlFingerprint } from '../../../src/classify/sql/fingerprint.ts';
import { newTreeFacts } from '../../../src/classify/sql/walk.ts';
import type { SqlFacts } from '../../../src/interaction.ts';

/** Facts as a walk of `text` would build them; the cache never looks inside. */
function factsOf(text: string, kind: string, prepared?: string): SqlFacts {
  const tree = newTreeFacts();
  tree.kinds.add(kind);
  if (prepared !== undefined) tree.prepared.add(prepared);
  return buildFacts(text, tree, 1, null);
}

function store(cache: FactsCache, text: string, facts: SqlFacts, readsLiterals = false): void {
  cache.set(text, sqlFingerprint(text), facts, readsLiterals);
}

const lookup = (cache: FactsCache, text: string) => cache.get(text, sqlFingerprint(text));

describe('FactsCache', () => {
  it('answers a text of a known shape with the shape facts, under its own text', () => {
    const cache = new FactsCache(8);
    const first = 'delete from t where id = 1';
    store(cache, first, factsOf(first, 'delete'));
    const second = 'delete from t where id = 2';
    const hit = lookup(cache, second);
    assert.deepEqual(hit?.kinds, ['delete']);
    assert.equal(hit?.text, second);
    assert.ok(Object.isFrozen(hit));
    assert.equal(lookup(cache, first)?.text, first);
    assert.deepEqual(cache.stats, { shapeHits: 2, textHits: 0 });
  });

  it('returns the stored facts themselves for the text that was stored', () => {
    const cache = new FactsCache(8);
    const text = 'select 1';
    const facts = factsOf(text, 'select');
    store(cache, text, facts);
    assert.equal(lookup(cache, text), facts);
  });

  it('carries the prepared-statement names over to a text of the same shape', () => {
    const cache = new FactsCache(8);
    const first = 'prepare p as select 1';
    store(cache, first, factsOf(first, 'prepare', 'p'));
    assert.deepEqual(sqlStatementNames(lookup(cache, 'prepare p as select 2')!).prepared, ['p']);
  });

  it('keeps facts that read a literal for their exact text only', () => {
    const cache = new FactsCache(8);
    const role = "select set_config('role', 'x', false)";
    const workMem = "select set_config('work_mem', '1MB', false)";
    store(cache, role, factsOf(role, 'set_role'), true);
    assert.equal(lookup(cache, workMem), undefined);
    store(cache, workMem, factsOf(workMem, 'select'), true);
    assert.deepEqual(lookup(cache, role)?.kinds, ['set_role']);
    assert.deepEqual(lookup(cache, workMem)?.kinds, ['select']);
    assert.equal(lookup(cache, "select set_config('a', 'b', false)"), undefined);
    assert.deepEqual(cache.stats, { shapeHits: 0, textHits: 2 });
  });

  it('never shares a parse error, whose message quotes the text', () => {
    const cache = new FactsCache(8);
    const bad = 'select 1 2';
    store(cache, bad, failedFacts(bad, 'syntax error at or near "2"'));
    assert.equal(lookup(cache, 'select 3 4'), undefined);
    assert.equal(lookup(cache, bad)?.parseError, 'syntax error at or near "2"');
  });

  it('caches a text without a shape by its exact text', () => {
    const cache = new FactsCache(8);
    const text = 'select $$x$$';
    store(cache, text, factsOf(text, 'select'));
    assert.equal(lookup(cache, 'select $$y$$'), undefined);
    assert.equal(lookup(cache, text)?.text, text);
  });

  it('holds at most its capacity of shapes', () => {
    const cache = new FactsCache(2);
    for (const table of ['a', 'b', 'c']) store(cache, `select * from ${table} where id = 1`, factsOf(`select * from ${table} where id = 1`, 'select'));
    assert.equal(lookup(cache, 'select * from a where id = 2'), undefined);
    assert.equal(lookup(cache, 'select * from c where id = 2')?.text, 'select * from c where id = 2');
  });
});
