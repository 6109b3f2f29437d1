import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { classifySql, initSqlClassifier } from '../../../src/classify/sql.ts';
import type { SqlFacts } from '../../../src/interaction.ts';
import { compilePolicy } from '../../../src/policy/compile.ts';
import { sqlInput, type InputOverrides } from '../support/inputs.ts';

const engine = compilePolicy({
  include: ['data-exfiltration'],
  sensitiveTables: ['users', 'billing.Payments'],
  rules: [{ name: 'allow-all-sql', match: { interactions: ['sql.query'] }, action: 'allow' }],
});

const star = { select_star: true };
const starLimited = { select_star: true, has_limit: true };
const tagged: InputOverrides = { connection: { tags: ['sensitive'] } };

describe('data-exfiltration pack', () => {
  const cases: Array<[string, Partial<SqlFacts>, InputOverrides, string]> = [
    ['SELECT * FROM users', { tables: ['users'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['select * from public.users', { tables: ['public.users'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['SELECT * FROM "USERS"', { tables: ['"USERS"'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['SELECT * FROM payments (listed as billing.Payments)', { tables: ['payments'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['SELECT u.* FROM orders o JOIN users u ON …', { tables: ['orders', 'users'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['TABLE users', { tables: ['users'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['SELECT * FROM (SELECT * FROM users) s LIMIT 5 (limit on the outside only)', { tables: ['users'], flags: star }, {}, 'data-exfiltration/select-star-sensitive-table'],
    ['COPY users TO STDOUT', { kinds: ['copy'], tables: ['users'] }, {}, 'data-exfiltration/copy-sensitive-table'],
    ['COPY (SELECT id FROM payments) TO STDOUT', { kinds: ['copy', 'select'], tables: ['payments'] }, {}, 'data-exfiltration/copy-sensitive-table'],
    ['SELECT * FROM orders on a connection tagged sensitive', { tables: ['orders'], flags: star }, tagged, 'data-exfiltration/select-star-sensitive-connection'],
    ['COPY orders TO STDOUT on a connection tagged sensitive', { kinds: ['copy'], tables: ['orders'] }, tagged, 'data-exfiltration/copy-sensitive-connection'],
    ["SELECT query_to_xml($1, true, false, '')", { tables: [], flags: { dynamic_sql: true } }, {}, 'data-exfiltration/unseen-tables'],
    ["SELECT database_to_xml(true, false, '') on a connection tagged sensitive", { tables: [], flags: { dynamic_sql: true } }, tagged, 'data-exfiltration/unseen-tables'],
  ];
  for (const [sql, facts, overrides, rule] of cases) {
    it(`denies ${sql}`, () => {
      const decision = engine.decide(sqlInput({ text: sql, ...facts }, overrides));
      assert.equal(decision.action, 'deny');
      assert.equal(decision.rule, rule);
    });
  }

  const allowed: Array<[string, Partial<SqlFacts>, InputOverrides]> = [
    ['SELECT * FROM users LIMIT 10', { tables: ['users'], flags: starLimited }, {}],
    ['SELECT id, email FROM users', { tables: ['users'], flags: {} }, {}],
    ['SELECT * FROM orders', { tables: ['orders'], flags: star }, {}],
    ['SELECT * FROM users_archive', { tables: ['users_archive'], flags: star }, {}],
    ['SELECT * FROM orders LIMIT 5 on a sensitive connection', { tables: ['orders'], flags: starLimited }, tagged],
    ['a classifier that sets no flags', { tables: ['users'], flags: {} }, {}],
  ];
  for (const [sql, facts, overrides] of allowed) {
    it(`allows ${sql}`, () => {
      assert.equal(engine.decide(sqlInput({ text: sql, ...facts }, overrides)).rule, 'allow-all-sql');
    });
  }

  describe('with the real SQL classifier', () => {
    before(() => initSqlClassifier());
    const classified: Array<[string, string]> = [
      // the SQL a function runs is classified through: a whole table read is a SELECT * without LIMIT
      ["select table_to_xml('users', true, false, '')", 'data-exfiltration/select-star-sensitive-table'],
      ["select query_to_xml('select * from users', true, false, '')", 'data-exfiltration/select-star-sensitive-table'],
      ["select query_to_xml('copy users to stdout', true, false, '')", 'data-exfiltration/copy-sensitive-table'],
      ["select query_to_xml(q, true, false, '') from saved_queries", 'data-exfiltration/unseen-tables'],
      ["select schema_to_xml('public', true, false, '')", 'data-exfiltration/unseen-tables'],
      ["select query_to_xml('select id from users where id = 1', true, false, '')", 'allow-all-sql'],
    ];
    for (const [sql, rule] of classified) {
      it(`${rule === 'allow-all-sql' ? 'allows' : 'denies'} ${sql}`, () => {
        assert.equal(engine.decide(sqlInput(classifySql(sql))).rule, rule);
      });
    }
  });

  it('uses the configured connection tags instead of the default', () => {
    const custom = compilePolicy({
      include: ['data-exfiltration'],
      sensitiveConnectionTags: ['pii'],
      rules: [{ name: 'allow-all-sql', match: { interactions: ['sql.query'] }, action: 'allow' }],
    });
    const select = (tags: string[]) => custom.decide(sqlInput({ tables: ['orders'], flags: star }, { connection: { tags } })).rule;
    assert.equal(select(['pii']), 'data-exfiltration/select-star-sensitive-connection');
    assert.equal(select(['sensitive']), 'allow-all-sql');
  });
});
