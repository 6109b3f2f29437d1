/**
 * The fingerprint of an exact request: equal for the same request (key order, method case and the
 * token aside), different for any change in what runs or for whom, and never equal for a body the
 * gateway cannot compare exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, fingerprint, numbersSurviveParsing, type FingerprintInput } from '../../src/approvals/index.ts';

const BASE: FingerprintInput = {
  principalId: 'usr_1', agent: 'ci agent', connection: 'openai', kind: 'llm.chat', method: 'POST', target: '/v1/chat/completions',
  content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users' }], temperature: 0 } },
};
const fp = (over: Partial<FingerprintInput> = {}) => fingerprint({ ...BASE, ...over });

test('the same request matches: key order at any depth and method case do not matter', () => {
  assert.equal(fp(), fp());
  assert.equal(fp({ content: { json: { temperature: 0, messages: [{ content: 'drop table users', role: 'user' }], model: 'demo' } } }), fp());
  assert.equal(fp({ method: 'post' }), fp());
  assert.match(fp(), /^[0-9a-f]{64}$/);
});

const CHANGES: [string, Partial<FingerprintInput>][] = [
  ['one byte of the prompt', { content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users!' }], temperature: 0 } } }],
  ['a number', { content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users' }], temperature: 1 } } }],
  ['an added field', { content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users' }], temperature: 0, n: 2 } } }],
  ['array order', { content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users' }, { role: 'user', content: 'x' }], temperature: 0 } } }],
  ['"0" for 0', { content: { json: { model: 'demo', messages: [{ role: 'user', content: 'drop table users' }], temperature: '0' } } }],
  ['another identity', { principalId: 'usr_2' }],
  ['another agent (token name)', { agent: 'other agent' }],
  ['another connection', { connection: 'other' }],
  ['another kind', { kind: 'llm.completion' }],
  ['another method', { method: 'PUT' }],
  ['another path', { target: '/v1/chat/completions/' }],
  ['a query string', { target: '/v1/chat/completions?x=1' }],
  ['text instead of JSON', { content: { text: canonicalJson((BASE.content as { json: unknown }).json) } }],
  ['no body', { content: null }],
];

for (const [what, over] of CHANGES) {
  test(`hostile: a request differing by ${what} does not match`, () => assert.notEqual(fp(over), fp()));
}

test('hostile: fields cannot be shifted into each other (length-prefixed)', () => {
  assert.notEqual(fp({ agent: 'ci', connection: ' agentopenai' }), fp({ agent: 'ci agent', connection: 'openai' }));
  assert.notEqual(fp({ method: null }), fp({ method: '\u0000null' }));
});

test('hostile: an unreadable body matches nothing, not even itself', () => {
  assert.notEqual(fp({ content: 'unreadable' }), fp({ content: 'unreadable' }));
});

test('hostile: numbers a double cannot hold, and only those, make a JSON body unreadable', () => {
  assert.equal(numbersSurviveParsing('{"a": 12345678901234567890}'), false);
  assert.equal(numbersSurviveParsing('{"a": 1.00000000000000001}'), false);
  assert.equal(numbersSurviveParsing(`{"a": ${'9'.repeat(500)}}`), false);
  assert.equal(numbersSurviveParsing('{"a": 100000000000000000000, "b": -0.5e10, "c": 123456789012345}'), true);
  assert.equal(numbersSurviveParsing('{"text": "card 4111111111111111111 \\" 99999999999999999999"}'), true, 'digits inside strings are text');
});

test('canonical JSON sorts keys and keeps values exactly', () => {
  assert.equal(canonicalJson({ b: [2, { d: 1, c: null }], a: 'é\u0000' }), '{"a":"é\\u0000","b":[2,{"c":null,"d":1}]}');
  assert.equal(canonicalJson(JSON.parse('{"__proto__": 1, "a": 2}')), '{"__proto__":1,"a":2}');
});
