import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileOf } from './profile-fixture.ts';

const body = {
  model: 'gpt-4o-mini',
  user: { id: 42, ssn: '536-22-1234', email: 'maria@example.com', tags: ['vip'] },
  messages: [
    { role: 'user', name: 'maria', content: 'My card is 4242 4242 4242 4242, mail me at maria@example.com' },
    { role: 'assistant', name: 'bot', content: 'Noted.' },
  ],
  'maria@example.com': 'keys are scanned too',
};

test('every string value and every key is scanned; the input is not mutated', () => {
  const before = structuredClone(body);
  const p = profileOf({ entities: { email: 'redact', credit_card: 'partial', us_ssn: 'redact' } });
  const { value, findings } = p.maskJson(body);
  assert.deepEqual(body, before);
  const v = value as typeof body;
  assert.equal(v.messages[0]!.content, 'My card is ****4242, mail me at [EMAIL]');
  assert.equal(v.user.email, '[EMAIL]');
  assert.equal(v.user.ssn, '[US_SSN]');
  assert.equal((v as Record<string, unknown>)['[EMAIL]'], 'keys are scanned too');
  assert.equal('maria@example.com' in (v as object), false);
  assert.deepEqual(
    findings.map((f) => [f.path, f.type]),
    [
      ['$.user.ssn', 'us_ssn'],
      ['$.user.email', 'email'],
      ['$.messages[0].content', 'credit_card'],
      ['$.messages[0].content', 'email'],
      // a key's finding names the object holding it, never the key
      ['$', 'email'],
    ],
  );
});

test('unchanged subtrees keep their identity', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  const v = p.maskJson(body).value as typeof body;
  assert.equal(v.messages[1], body.messages[1]);
  assert.equal(v.user.tags, body.user.tags);
  const clean = { a: ['x', { b: 'y' }] };
  assert.equal(p.maskJson(clean).value, clean);
});

test('named fields are masked whatever they hold, with their own style', () => {
  const p = profileOf({
    entities: {},
    fields: ['$.user.ssn', 'messages[*].name', { path: '$.user.tags', style: 'pseudonym' }, { path: '$.user.id', style: 'drop' }],
  });
  const { value, findings } = p.maskJson(body);
  const v = value as Record<string, any>;
  assert.equal(v.user.ssn, '[REDACTED]');
  assert.match(v.user.tags, /^VALUE_[0-9a-f]{8}$/);
  assert.equal('id' in v.user, false);
  assert.deepEqual(v.messages.map((m: { name: string }) => m.name), ['[REDACTED]', '[REDACTED]']);
  assert.equal(v.messages[0].content, body.messages[0]!.content);
  assert.deepEqual(findings.map((f) => f.detector).sort(), ['field:$.user.id', 'field:$.user.ssn', 'field:$.user.tags', 'field:messages[*].name', 'field:messages[*].name']);
});

test('drop removes the field that holds a detected value, and the element of an array', () => {
  const p = profileOf({ entities: { email: 'drop', credit_card: 'redact' } });
  const v = p.maskJson({ contact: 'maria@example.com', note: 'ok', list: ['a', 'b@example.com', 'c'], card: '4242424242424242' }).value;
  assert.deepEqual(v, { note: 'ok', list: ['a', 'c'], card: '[CREDIT_CARD]' });
});

test('card numbers written as JSON numbers are masked', () => {
  const p = profileOf({ entities: { credit_card: 'partial' } });
  assert.deepEqual(p.maskJson({ pan: 4242424242424242, qty: 4242 }).value, { pan: '****4242', qty: 4242 });
});

test('a __proto__ key survives as data', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  const parsed = JSON.parse('{"__proto__":{"x":"maria@example.com"},"b":"maria@example.com"}');
  const v = p.maskJson(parsed).value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, { x: '[EMAIL]' });
});

test('maskJsonText returns the body byte for byte when nothing is masked', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  const raw = '{ "a" : 1.50, "big": 12345678901234567890 }';
  const r = p.maskJsonText(raw);
  assert.equal(r.text, raw);
  assert.deepEqual(r.findings, []);
  assert.equal(p.maskJsonText('{"to":"maria@example.com"}').text, '{"to":"[EMAIL]"}');
});

test('content parts are read together: a value split across text parts is masked in each, others stay', () => {
  const p = profileOf({ entities: { secret: 'redact' } });
  const key = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';
  const content = [
    { type: 'text', text: `use ${key.slice(0, 9)}` },
    { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
    { type: 'text', text: key.slice(9, 25) },
    { type: 'text', text: `${key.slice(25)} and AKIAIOSFODNN7EXAMPLE, thanks` },
  ];
  const input = { messages: [{ role: 'user', content }] };
  const { value, findings } = p.maskJson(input);
  const out = (value as typeof input).messages[0]!.content as { text?: string }[];
  assert.deepEqual(
    out.map((part) => part.text),
    ['use [GITHUB_TOKEN]', undefined, '', ' and [AWS_ACCESS_KEY], thanks'],
  );
  assert.equal(out[1], content[1], 'a part without text keeps its identity');
  assert.deepEqual(findings.map((f) => f.type).sort(), ['aws_access_key', 'github_token']);
  assert.equal(input.messages[0]!.content[0]!.text, `use ${key.slice(0, 9)}`, 'the input is not mutated');
  const clean = { messages: [{ role: 'user', content: [{ type: 'text', text: 'release 2.3.0 ' }, { type: 'text', text: 'and 2.4.1' }] }] };
  assert.equal(p.maskJson(clean).value, clean, 'parts with nothing across them keep their identity');
});
