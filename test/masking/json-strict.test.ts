import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonStrict } from '../../src/masking/json-strict.ts';

const table: readonly [string, boolean, string[]][] = [
  ['{"a":1,"b":2}', false, []],
  ['{"a":1,"a":2}', true, ['a']],
  ['{"a":{"b":1},"c":{"b":2}}', false, []],
  ['{"a":{"b":1,"b":2}}', true, []],
  ['[{"k":1},{"k":2}]', false, []],
  ['[{"k":1,"k":2}]', true, []],
  ['{"model":"a","n\\u006fte":1,"note":2}', true, ['note']],
  ['{"a\\"b":1,"a\\"b":2}', true, ['a"b']],
  ['{"x":"a,\\"b\\":1","b":2}', false, []],
  ['{"x":"\\\\","x\\\\":1}', false, []],
  ['{"s":"{\\"a\\":1,\\"a\\":2}"}', false, []],
  ['{"__proto__":1,"__proto__":2}', true, ['__proto__']],
  ['{"":1,"":2}', true, ['']],
  ['{"a":[1,{"a":2}],"b":{"a":3}}', false, []],
  ['"just a string"', false, []],
  ['[1,2,{}]', false, []],
];

for (const [text, duplicateKeys, top] of table) {
  test(`duplicate keys in ${text}`, () => {
    const parsed = parseJsonStrict(text);
    assert.deepEqual(parsed.value, JSON.parse(text));
    assert.equal(parsed.duplicateKeys, duplicateKeys);
    assert.deepEqual(parsed.duplicateTopLevel, top);
  });
}

test('invalid JSON throws as JSON.parse does', () => {
  assert.throws(() => parseJsonStrict('{"a":'), SyntaxError);
});

test('a large body with many escaped strings is walked once', () => {
  const big = JSON.stringify({ items: Array.from({ length: 20000 }, (_, i) => ({ id: i, s: `line\n${i}` })) });
  assert.equal(parseJsonStrict(big).duplicateKeys, false);
});

test('JSON nested deeper than the call stack is read, and a duplicate deep inside is still found', () => {
  const deep = (inner: string) => '['.repeat(100_000) + inner + ']'.repeat(100_000);
  assert.equal(parseJsonStrict(deep('{}')).duplicateKeys, false);
  assert.equal(parseJsonStrict(deep('{"a":1,"a":2}')).duplicateKeys, true);
});
