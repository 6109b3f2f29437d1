import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainMasking } from '../../src/masking/index.ts';
import { profileOf } from './profile-fixture.ts';

test('explainMasking shows each finding with its detector and, separately, the original', () => {
  const p = profileOf({ entities: { secret: 'redact', email: 'partial' } });
  const r = explainMasking(p, 'mail maria@example.com, key AKIAIOSFODNN7EXAMPLE');
  assert.equal(r.text, 'mail ****@example.com, key [AWS_ACCESS_KEY]');
  assert.deepEqual(r.findings, [
    { type: 'email', detector: 'email', start: 5, end: 22, replacement: '****@example.com', original: 'maria@example.com', family: 'pii' },
    { type: 'aws_access_key', detector: 'aws_access_key', start: 28, end: 48, replacement: '[AWS_ACCESS_KEY]', original: 'AKIAIOSFODNN7EXAMPLE', family: 'secret' },
  ]);
});
