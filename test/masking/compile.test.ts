import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { compileMaskingProfiles, DEFAULT_PROFILES, PII_TYPES, SECRET_TYPES, type MaskingConfigInput } from '../../src/masking/index.ts';
import { KEY, profileOf } from './profile-fixture.ts';

const invalid: readonly [string, MaskingConfigInput, string][] = [
  ['unknown entity', { profiles: { p: { entities: { emial: 'redact' } } } }, 'entities.emial'],
  ['invalid regex', { profiles: { p: { patterns: [{ name: 'emp', regex: 'EMP-(\\d{6}' }] } } }, 'patterns.emp.regex'],
  ['empty-matching regex', { profiles: { p: { patterns: [{ name: 'emp', regex: '\\d*' }] } } }, 'patterns.emp.regex'],
  ['unknown validator', { profiles: { p: { patterns: [{ name: 'emp', regex: 'x', validator: 'crc' as 'luhn' }] } } }, 'masking.profiles.p.patterns.0.validator'],
  ['pattern named like an entity', { profiles: { p: { patterns: [{ name: 'email', regex: 'x' }] } } }, 'patterns.email'],
  ['empty dictionary', { profiles: { p: { dictionaries: { words: [] } } } }, 'dictionaries.words'],
  ['bad JSON path', { profiles: { p: { fields: ['$.user['] } } }, 'fields[0]'],
  ['unknown style', { profiles: { p: { entities: { email: 'hash' as 'redact' } } } }, 'masking.profiles.p.entities.email'],
  ['short key', { key: 'short', profiles: {} }, 'masking.key'],
];
for (const [what, config, key] of invalid) {
  test(`config error: ${what} names ${key}`, () => {
    assert.throws(
      () => compileMaskingProfiles(config, KEY),
      (err: unknown) =>
        err instanceof ConfigError && err.code === 'config_invalid' && err.details.key === key && err.details.profile === (key === 'masking.key' ? undefined : 'p'),
    );
  });
}

test('families expand to their members; a specific type overrides its family in any order', () => {
  const p = profileOf({ entities: { github_token: 'pseudonym', secret: 'redact', pii: 'partial' } });
  assert.equal(p.styles.get('github_token'), 'pseudonym');
  assert.equal(p.styles.get('aws_access_key'), 'redact');
  for (const t of SECRET_TYPES) assert.ok(p.styles.has(t), t);
  for (const t of PII_TYPES.filter((t) => t !== 'person')) assert.equal(p.styles.get(t), 'partial', t);
  assert.equal(p.styles.has('person'), false, 'person stays opt-in');
});

test('custom patterns with validator and context words', () => {
  const p = profileOf({
    entities: {},
    patterns: [
      { name: 'employee_id', regex: 'EMP-\\d{6}', context: ['employee'], contextWindow: 16 },
      { name: 'loyalty_card', regex: '\\b\\d{12}\\b', validator: 'luhn', style: 'partial' },
    ],
  });
  assert.equal(
    p.maskText('employee EMP-123456, and a visitor badge EMP-654321').text,
    'employee [EMPLOYEE_ID], and a visitor badge EMP-654321',
  );
  assert.equal(p.maskText('card 123456789015 / 123456789012').text, 'card ****9015 / 123456789012');
});

test('dictionaries match whole words, case-insensitively unless told otherwise', () => {
  const p = profileOf({
    entities: {},
    dictionaries: { codename: ['Bluebird', 'Night Jar'], client: { terms: ['ACME'], caseSensitive: true, style: 'pseudonym' } },
  });
  assert.equal(p.maskText('bluebird and NIGHT JAR, not Bluebirds').text, '[CODENAME] and [CODENAME], not Bluebirds');
  assert.match(p.maskText('ACME vs acme').text, /^CLIENT_[0-9a-f]{8} vs acme$/);
});

test('the default profiles exist and behave as documented', () => {
  const profiles = compileMaskingProfiles(DEFAULT_PROFILES, KEY);
  assert.deepEqual(profiles.names, ['secrets', 'pii']);
  const text = 'key AKIAIOSFODNN7EXAMPLE, mail maria@example.com, card 4242 4242 4242 4242, call +1-202-555-0143';
  assert.equal(profiles.get('secrets')!.maskText(text).text, 'key [AWS_ACCESS_KEY], mail maria@example.com, card 4242 4242 4242 4242, call +1-202-555-0143');
  assert.equal(profiles.get('pii')!.maskText(text).text, 'key [AWS_ACCESS_KEY], mail [EMAIL], card ****4242, call ****0143');
  assert.equal(profiles.get('nope'), undefined);
  assert.ok(Object.isFrozen(profiles));
});

test('a key in the config wins over the one passed in', () => {
  const a = compileMaskingProfiles({ key: 'k'.repeat(32), profiles: { p: { entities: { email: 'pseudonym' } } } }, Buffer.alloc(32, 1));
  const b = compileMaskingProfiles({ key: 'k'.repeat(32), profiles: { p: { entities: { email: 'pseudonym' } } } }, Buffer.alloc(32, 2));
  assert.equal(a.get('p')!.maskText('maria@example.com').text, b.get('p')!.maskText('maria@example.com').text);
});
