/**
 * `grants` in conditions: checked at compile time like any variable, read as a list of maps, and
 * marked consulted only when a condition actually read it (a decision that never looked at grants
 * does not depend on them).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTestInput, checkPolicy, compilePolicy } from '../../src/policy/index.ts';

const policy = compilePolicy({
  rules: [
    { name: 'reads-free', match: { interactions: ['sql.query'] }, when: "request.sql.kinds.all(k, k == 'select')", action: 'allow' },
    {
      name: 'incident-writes',
      when: "grants.exists(g, g.reason.startsWith('incident') && g.connection == connection.name && g.expires_at > time + duration('5m'))",
      action: 'allow',
    },
    { name: 'nothing-else', action: 'deny' },
  ],
});
const sqlFacts = (kinds: string[]) => ({ text: '', kinds, tables: [], hasWhere: false, functions: [], multiStatement: false, parseError: null, flags: {} }) as any;
const input = (kinds: string[], grants: string[]) =>
  buildTestInput({ identity: 'ada', connection: 'prod-db', sql: 'x', grants }, { classifySql: () => sqlFacts(kinds) });

test('a write is allowed only with a grant whose fields the condition checks; reads never consult grants', () => {
  assert.equal(policy.readsGrants, true);
  const read = input(['select'], ['incident 1']);
  assert.equal(policy.decide(read).rule, 'reads-free');
  assert.equal(read.grants?.consulted, false);
  const granted = input(['delete'], ['incident 4521']);
  assert.equal(policy.decide(granted).rule, 'incident-writes');
  assert.equal(granted.grants?.consulted, true);
  assert.equal(policy.decide(input(['delete'], ['curiosity'])).rule, 'nothing-else');
  assert.equal(policy.decide(input(['delete'], [])).rule, 'nothing-else');
});

test('compile-time checks: grants is known, its fields are read through a loop variable, and misuse is named', () => {
  assert.deepEqual(checkPolicy({ rules: [{ name: 'ok', when: 'size(grants) > 0', action: 'allow' }] }).errors, []);
  const cases: [string, RegExp][] = [
    ['grants.reason', /grants has no field "reason"/],
    ['grants.exists(grants, true)', /loop variable "grants" hides/],
    ['grant.size() > 0', /unknown variable "grant"/],
  ];
  for (const [when, message] of cases) {
    const { errors } = checkPolicy({ rules: [{ name: 'bad', when, action: 'allow' }] });
    assert.match(errors[0]?.message ?? '', message, when);
  }
  assert.equal(compilePolicy({ rules: [{ name: 'plain', action: 'allow' }] }).readsGrants, false);
});
