import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskingConfigSchema } from '../../src/masking/index.ts';

test('the schema fills documented defaults', () => {
  const parsed = maskingConfigSchema.parse({ profiles: { pii: { entities: { email: 'redact' } } } });
  assert.deepEqual(parsed.profiles.pii, {
    entities: { email: 'redact' },
    patterns: [],
    dictionaries: {},
    fields: [],
    fieldStyle: 'redact',
    columns: [],
    columnStyle: 'redact',
    holdBack: 256,
    maxScanBytes: 10 * 1024 * 1024,
    onOversize: 'refuse',
    maxRequestScanBytes: 256 * 1024 * 1024,
    maxRequestScanWork: 16 * 1024 * 1024 * 1024,
  });
});

test('the example from the docs parses', () => {
  const parsed = maskingConfigSchema.parse({
    key: 'a-deployment-key-of-some-length',
    profiles: {
      pii: {
        entities: { email: 'redact', phone: 'partial', credit_card: 'partial', secret: 'redact' },
        patterns: [{ name: 'employee_id', regex: 'EMP-\\d{6}', style: 'redact', context: ['employee'], validator: 'luhn' }],
        dictionaries: { project_codename: ['Bluebird', 'Nightjar'] },
        fields: ['$.user.ssn', 'messages[*].name'],
        columns: ['ssn', 'email'],
        columnStyle: 'redact',
        holdBack: 64,
        maxScanBytes: 10485760,
        onOversize: 'refuse',
      },
    },
  });
  assert.equal(parsed.profiles.pii?.holdBack, 64);
});

test('unknown keys and bad values are rejected', () => {
  for (const bad of [
    { profiles: { p: { entites: {} } } },
    { profiles: { p: { onOversize: 'ignore' } } },
    { profiles: { p: { holdBack: 8 } } },
    { profiles: { p: { patterns: [{ name: 'Bad Name', regex: 'x' }] } } },
  ]) {
    assert.equal(maskingConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
