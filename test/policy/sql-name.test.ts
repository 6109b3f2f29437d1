import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeSqlName } from '../../src/policy/sql-name.ts';

describe('normalizeSqlName', () => {
  const cases: Array<[string, string]> = [
    ['users', 'users'],
    ['USERS', 'users'],
    ['public.users', 'users'],
    ['"public"."Users"', 'users'],
    ['"my.schema".users', 'users'],
    ['"odd.name"', 'odd.name'],
    ['"say ""hi"""', 'say "hi"'],
    ['pg_catalog.pg_terminate_backend', 'pg_terminate_backend'],
    ['db.schema.table', 'table'],
  ];
  for (const [input, bare] of cases) it(`${input} → ${bare}`, () => assert.equal(normalizeSqlName(input), bare));
});
