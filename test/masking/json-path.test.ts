import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldMatcher, formatJsonPath, parseJsonPath } from '../../src/masking/json-path.ts';

const cases: readonly [string, ReturnType<typeof parseJsonPath>][] = [
  ['$.user.ssn', [{ kind: 'key', key: 'user' }, { kind: 'key', key: 'ssn' }]],
  ['messages[*].name', [{ kind: 'key', key: 'messages' }, { kind: 'any' }, { kind: 'key', key: 'name' }]],
  ["$['odd key'][0]", [{ kind: 'key', key: 'odd key' }, { kind: 'index', index: 0 }]],
  ['$.items.*.token', [{ kind: 'key', key: 'items' }, { kind: 'any' }, { kind: 'key', key: 'token' }]],
  ['$..password', [{ kind: 'descendant', key: 'password' }]],
  ['$', []],
];
for (const [path, segments] of cases) {
  test(`parses ${path}`, () => assert.deepEqual(parseJsonPath(path), segments));
}

for (const bad of ['$.', '$[', "$['unclosed]", '$.a[x]', '$..', 'a b']) {
  test(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseJsonPath(bad)));
}

test('the matcher follows keys, indices, wildcards and descendants', () => {
  const m = new FieldMatcher([
    { segments: parseJsonPath('$.user.ssn'), rule: 'ssn' },
    { segments: parseJsonPath('messages[*].name'), rule: 'name' },
    { segments: parseJsonPath('$..password'), rule: 'password' },
  ]);
  const walk = (keys: (string | number)[]): string | null => {
    let states = m.initial;
    let matched: string | null = null;
    for (const k of keys) {
      const next = m.step(states, k);
      matched = next.matched;
      states = next.states;
    }
    return matched;
  };
  assert.equal(walk(['user', 'ssn']), 'ssn');
  assert.equal(walk(['user', 'name']), null);
  assert.equal(walk(['messages', 3, 'name']), 'name');
  assert.equal(walk(['messages', 'name']), null);
  assert.equal(walk(['a', 0, 'b', 'password']), 'password');
  assert.equal(walk(['password']), 'password');
});

test('paths in findings are printed in JSONPath syntax', () => {
  assert.equal(formatJsonPath(['messages', 0, 'content']), '$.messages[0].content');
  assert.equal(formatJsonPath(['odd key', 'x-y']), '$["odd key"].x-y');
});
