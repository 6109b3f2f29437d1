import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileOf } from './profile-fixture.ts';

const text = 'Mail maria.garcia@example.com, card 4242 4242 4242 4242, call +44 20 7946 0958, key AKIAIOSFODNN7EXAMPLE.';

test('redact replaces each value with its upper-case type', () => {
  const p = profileOf({ entities: { email: 'redact', credit_card: 'redact', phone: 'redact', aws_access_key: 'redact' } });
  assert.equal(p.maskText(text).text, 'Mail [EMAIL], card [CREDIT_CARD], call [PHONE], key [AWS_ACCESS_KEY].');
});

test('partial keeps the last four characters, and the domain of an email', () => {
  const p = profileOf({ entities: { email: 'partial', credit_card: 'partial', phone: 'partial' } });
  assert.equal(p.maskText(text).text, 'Mail ****@example.com, card ****4242, call ****0958, key AKIAIOSFODNN7EXAMPLE.');
});

test('partial hides short values entirely', () => {
  const p = profileOf({ entities: {}, dictionaries: { codename: { terms: ['Bluebird'], style: 'partial' } } });
  assert.equal(p.maskText('Project Bluebird').text, 'Project ****');
});

test('pseudonym is deterministic, format-independent and type-tagged', () => {
  const p = profileOf({ entities: { email: 'pseudonym', credit_card: 'pseudonym' } });
  const a = p.maskText('maria.garcia@example.com / 4242 4242 4242 4242').text;
  const b = p.maskText('MARIA.GARCIA@example.com / 4242424242424242').text;
  assert.match(a, /^EMAIL_[0-9a-f]{8} \/ CREDIT_CARD_[0-9a-f]{8}$/);
  assert.equal(a, b);
  assert.notEqual(p.maskText('someone.else@example.com').text, p.maskText('maria.garcia@example.com').text);
});

test('pseudonym depends on the deployment key', () => {
  const one = profileOf({ entities: { email: 'pseudonym' } }, Buffer.alloc(32, 1));
  const two = profileOf({ entities: { email: 'pseudonym' } }, Buffer.alloc(32, 2));
  assert.notEqual(one.maskText('maria.garcia@example.com').text, two.maskText('maria.garcia@example.com').text);
});

test('drop in free text behaves like redact', () => {
  const p = profileOf({ entities: { email: 'drop' } });
  assert.equal(p.maskText('to maria.garcia@example.com now').text, 'to [EMAIL] now');
});

test('findings carry type, detector, offsets and replacement but never the value', () => {
  const p = profileOf({ entities: { secret: 'redact' } });
  const { findings } = p.maskText('key AKIAIOSFODNN7EXAMPLE');
  assert.deepEqual(findings, [{ type: 'aws_access_key', detector: 'aws_access_key', start: 4, end: 24, replacement: '[AWS_ACCESS_KEY]' }]);
  assert.ok(!JSON.stringify(findings).includes('AKIAIOSFODNN7EXAMPLE'));
});
