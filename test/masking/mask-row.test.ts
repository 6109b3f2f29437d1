import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profileOf } from './profile-fixture.ts';

const columns = ['id', 'name', 'Email', 'ssn', 'notes', 'phone'];
const row = ['42', 'Maria Garcia', 'maria@example.com', '536-22-1234', 'prefers +44 20 7946 0958, card 4242 4242 4242 4242', null];

test('values are masked by content; NULL stays NULL', () => {
  const p = profileOf({ entities: { pii: 'redact' } });
  const { values, findings } = p.maskRow(columns, row);
  assert.deepEqual(values, ['42', 'Maria Garcia', '[EMAIL]', '[US_SSN]', 'prefers [PHONE], card [CREDIT_CARD]', null]);
  assert.deepEqual(
    findings.map((f) => [f.path, f.type, f.start, f.end]),
    [
      ['Email', 'email', 0, 17],
      ['ssn', 'us_ssn', 0, 11],
      ['notes', 'phone', 8, 24],
      ['notes', 'credit_card', 31, 50],
    ],
  );
});

test('named columns are masked whatever they hold (case-insensitive); drop makes NULL', () => {
  const p = profileOf({ entities: {}, columns: ['name', 'EMAIL', { name: 'id', style: 'drop' }], columnStyle: 'pseudonym' });
  const { values, findings } = p.maskRow(columns, row);
  assert.equal(values[0], null);
  assert.match(values[1]!, /^VALUE_[0-9a-f]{8}$/);
  assert.match(values[2]!, /^VALUE_[0-9a-f]{8}$/);
  assert.deepEqual(values.slice(3), row.slice(3));
  assert.deepEqual(findings.map((f) => f.detector), ['column:id', 'column:name', 'column:Email']);
});

test('the same value gets the same pseudonym as a named JSON field', () => {
  const p = profileOf({ entities: {}, columns: ['ssn'], columnStyle: 'pseudonym', fields: [{ path: '$.ssn', style: 'pseudonym' }] });
  const fromRow = p.maskRow(['ssn'], ['536-22-1234']).values[0];
  const fromJson = (p.maskJson({ ssn: '536-22-1234' }).value as { ssn: string }).ssn;
  assert.equal(fromRow, fromJson);
});

test('context words may come from another column of the same row', () => {
  const p = profileOf({ entities: { secret: 'redact' } });
  const key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  assert.deepEqual(p.maskRow(['provider', 'credential'], ['aws secret', key]).values, ['aws secret', '[AWS_SECRET_KEY]']);
  assert.deepEqual(p.maskRow(['provider', 'credential'], ['gcp', key]).values, ['gcp', key]);
});

test('an assignment split over two columns is not stitched together', () => {
  const p = profileOf({ entities: { secret: 'redact' } });
  assert.deepEqual(p.maskRow(['a', 'b'], ['password:', 'Zq7Lm2Xp9Rt4']).values, ['password:', 'Zq7Lm2Xp9Rt4']);
});

test('short rows and missing column names', () => {
  const p = profileOf({ entities: { email: 'redact' } });
  assert.deepEqual(p.maskRow([], ['a@example.com']).values, ['[EMAIL]']);
  assert.equal(p.maskRow([], ['a@example.com']).findings[0]?.path, '#1');
});
