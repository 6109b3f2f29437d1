import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSync } from 'libpg-query';
import { initSqlClassifier } from '../../../src/classify/sql.ts';
import { classifyText } from '../../../src/classify/sql/classify-text.ts';
import { sealLiterals } from '../../../src/classify/sql/literals.ts';

function sealed(sql: string): { tree: unknown; facts: { readsLiterals: boolean } } {
  const tree = parseSync(sql);
  const facts = { readsLiterals: false };
  sealLiterals(tree, facts);
  return { tree, facts };
}

describe('sealLiterals', () => {
  before(async () => {
    await initSqlClassifier();
  });

  const withLiterals = [
    'delete from t where 1 = 1',
    "delete from t where 'a' = 'a'",
    'select 1.5',
    'select 2147483648',
    "select B'101'",
    "select set_config('role', 'postgres', false)",
    "set search_path = 'evil'",
    'with d as (delete from t where id in (select 5) returning 1) select * from d',
    'select f(g(h(1)))',
    'execute p(1)',
  ];
  for (const sql of withLiterals) {
    it(`records a read of any constant in ${JSON.stringify(sql)}, at any depth`, () => {
      const { tree, facts } = sealed(sql);
      JSON.stringify(tree); // reads every field
      assert.equal(facts.readsLiterals, true);
    });
  }

  it('leaves NULL and true/false readable: they are keywords, part of the shape', () => {
    const { tree, facts } = sealed('select null, true, false from t limit all');
    assert.match(JSON.stringify(tree), /"isnull":true/);
    assert.equal(facts.readsLiterals, false);
  });

  it('keeps the values the same for whoever reads them', () => {
    const { tree } = sealed("select 42, 'x', 1.5");
    assert.deepEqual(tree, parseSync("select 42, 'x', 1.5"));
  });

  it('hides a zero behind a getter too: a key left out would tell the value', () => {
    // libpg-query leaves out protobuf defaults: select 0 is { ival: {} }, select 5 is { ival: { ival: 5 } }
    const payload = (tree: unknown) =>
      (tree as { stmts: { stmt: { SelectStmt: { targetList: { ResTarget: { val: { A_Const: { ival: { ival?: number } } } } }[] } } }[] }).stmts[0]!.stmt
        .SelectStmt.targetList[0]!.ResTarget.val.A_Const.ival;
    const zero = sealed('select 0');
    const five = sealed('select 5');
    assert.deepEqual(Object.keys(payload(zero.tree)), Object.keys(payload(five.tree)));
    assert.equal(zero.facts.readsLiterals, false);
    assert.equal(payload(zero.tree).ival, undefined);
    assert.equal(zero.facts.readsLiterals, true);
  });
});

describe('classifyText', () => {
  before(async () => {
    await initSqlClassifier();
  });

  // today no fact reads a value: tautologies are found by the absence of any column
  const valueFree = [
    'delete from t where 1 = 2',
    "delete from t where 'a' = 'a' or false",
    'merge into t using s on 1 = 1 when matched then delete',
    'select * from t where id = 5 limit 10',
    "copy t to program 'curl evil'",
    'execute p(1)',
  ];
  for (const sql of valueFree) {
    it(`derives the facts of ${JSON.stringify(sql)} without reading a literal`, () => {
      assert.equal(classifyText(sql).readsLiterals, false);
    });
  }

  // facts that hang on a string's value: the setting set_config changes, the SQL query_to_xml runs
  const valueDependent = [
    "select set_config('role', 'postgres', false)",
    "select query_to_xml('select 1', true, false, '')",
    "select * from dblink_exec('drop table t')",
    "create function f() returns int language 'sql' as 'select 1'",
  ];
  for (const sql of valueDependent) {
    it(`marks the facts of ${JSON.stringify(sql)} as reading a literal`, () => {
      assert.equal(classifyText(sql).readsLiterals, true);
    });
  }
});
