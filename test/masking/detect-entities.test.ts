import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileMaskingProfiles, DEFAULT_PROFILES, detectEntities } from '../../src/masking/index.ts';
import { KEY } from './profile-fixture.ts';

const profiles = compileMaskingProfiles(
  { profiles: { ...DEFAULT_PROFILES.profiles, hr: { patterns: [{ name: 'employee_id', regex: 'EMP-\\d{6}' }] } } },
  KEY,
);

test('a secret adds its type and the secret family', () => {
  assert.deepEqual(detectEntities(profiles, 'deploy with ghp_Zq7Lm2Xp9Rt4Kd8Wn3Hv6Bc1Fs5Gj0AyaB3c'), ['github_token', 'secret']);
});

test('PII adds the pii family; several types are listed once each, sorted', () => {
  assert.deepEqual(detectEntities(profiles, 'a@example.com b@example.com +1-202-555-0143'), ['email', 'phone', 'pii']);
});

test('profile-set detection covers every profile’s own patterns; a profile sees only its own', () => {
  assert.deepEqual(detectEntities(profiles, 'badge EMP-123456'), ['employee_id']);
  assert.deepEqual(detectEntities(profiles.get('secrets')!, 'badge EMP-123456 a@example.com'), []);
  assert.deepEqual(profiles.get('pii')!.detectEntities('a@example.com'), ['email', 'pii']);
});

test('nothing sensitive, nothing listed', () => {
  assert.deepEqual(detectEntities(profiles, 'The nightly export failed after the migration.'), []);
});
