/**
 * SQL that runs SQL (issue 11, class 5), through the real gateway and a real PostgreSQL with the
 * sql-destructive pack: one agent tries to end another agent's backend and to drop a table through
 * query_to_xml, ts_stat, dblink_exec and friends. Each attempt is refused with 42501, the database
 * shows it never ran (the other backend alive, the table there, the role unchanged), and the
 * refusal is recorded with its rule. Ordinary uses of the same functions still pass.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { eventually, recordedSessions, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';

const POLICY = `
policy:
  include: [sql-destructive]
  rules:
    - name: allow-the-rest
      action: allow
`;

describe('e2e: SQL run by functions cannot get past the sql-destructive pack', () => {
  let g: PgGateway;
  let attacker: pg.Client;
  let victim: pg.Client;
  let victimPid: number;
  let direct: pg.Client;
  /** A libpq connection string straight to the database, as an agent who learnt it would write it. */
  let loopback: string;

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
    direct = await g.direct();
    await direct.query('create extension if not exists dblink');
    await direct.query('create extension if not exists tablefunc');
    await direct.query('create table orders (id int primary key, total int)');
    await direct.query('insert into orders values (1, 10), (2, 20)');
    await direct.query('create role powerful nologin');
    await direct.query('create table items (id serial primary key, name text, price int, updated_at timestamptz default now())');
    await direct.query("insert into items (name, price) values ('bolt', 3), ('nut', 1), ('gear', 12)");
    await direct.query('create table audit_log (id serial primary key, doc text)');
    const url = new URL(g.db.url);
    loopback = `host=127.0.0.1 port=${url.port} dbname=${url.pathname.slice(1)} user=${decodeURIComponent(url.username)} password=${decodeURIComponent(url.password)}`;
    const token = await g.token();
    attacker = await g.client(token);
    // the other agent: its own session through the gateway, its own backend
    victim = await g.client(await g.token());
    victimPid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
  });
  after(() => g?.close());

  const refused = async (client: pg.Client, query: string | pg.QueryConfig, rule: string) =>
    assert.rejects(client.query(query), (err: any) => {
      assert.equal(err.code, '42501', `${JSON.stringify(query)}: ${err.message}`);
      assert.match(err.detail, new RegExp(`rule: sql-destructive/${rule}\\b`), JSON.stringify(query));
      return true;
    });

  async function assertUntouched(): Promise<void> {
    assert.deepEqual((await victim.query('select 1 as alive')).rows, [{ alive: 1 }], 'the other backend is alive');
    const live = await direct.query('select count(*)::int as n from pg_stat_activity where pid = $1', [victimPid]);
    assert.equal(live.rows[0].n, 1);
    assert.deepEqual((await direct.query('select id, total from orders order by id')).rows, [
      { id: 1, total: 10 },
      { id: 2, total: 20 },
    ]);
  }

  test('ending another backend through query_to_xml, ts_stat, ts_rewrite or nested calls is refused', async () => {
    const pid = victimPid;
    const attempts: [string, string][] = [
      [`select query_to_xml('select pg_terminate_backend(${pid})', true, false, '')`, 'dangerous-function'],
      [`select pg_catalog.query_to_xml($$select pg_cancel_backend(${pid})$$, true, false, '')`, 'dangerous-function'],
      [`select "query_to_xmlschema"(E'select pg_terminate_backend(${pid})', true, false, '')`, 'dangerous-function'],
      [`select * from ts_stat('select pg_terminate_backend(${pid})::text::tsvector')`, 'dangerous-function'],
      [`select ts_rewrite('a'::tsquery, 'select pg_terminate_backend(${pid})::text::tsquery, ''b''::tsquery')`, 'dangerous-function'],
      [`select query_to_xml('select query_to_xml(''select pg_terminate_backend(${pid})'', true, false, '''')', true, false, '')`, 'dangerous-function'],
      [`with x as (select query_to_xml('select pg_terminate_backend(${pid})', true, false, '') as doc) select 1 from x`, 'dangerous-function'],
      [`select query_to_xml('select pg_terminate_' || 'backend(${pid})', true, false, '')`, 'dynamic-sql'],
      [`select query_to_xml(format('select pg_terminate_backend(%s)', ${pid}), true, false, '')`, 'dynamic-sql'],
    ];
    for (const [sql, rule] of attempts) await refused(attacker, sql, rule);
    // the text as a bound parameter, through the extended protocol
    await refused(attacker, { text: "select query_to_xml($1, true, false, '')", values: [`select pg_terminate_backend(${pid})`] }, 'dynamic-sql');
    await assertUntouched();
  });

  test('dropping a table through dblink_exec, query_to_xml or crosstab is refused', async () => {
    const attempts: [string, string][] = [
      [`select dblink_exec('${loopback}', 'drop table orders')`, 'drop'],
      [`select dblink_exec('${loopback}', 'select 1')`, 'dangerous-function'],
      [`select public.dblink_exec('${loopback}', $x$delete from orders$x$)`, 'update-delete-without-where'],
      [`select query_to_xml('select dblink_exec(''${loopback}'', ''drop table orders'')', true, false, '')`, 'drop'],
      ["select query_to_xml('drop table orders', true, false, '')", 'drop'],
      ["select query_to_xml('truncate orders', true, false, '')", 'truncate'],
      ["select query_to_xml('update orders set total = 0', true, false, '')", 'update-delete-without-where'],
      ["select * from crosstab('select 1, 1, 1', 'delete from orders') as t(a int, b int)", 'update-delete-without-where'],
      ["select query_to_xml('with d as (delete from orders returning 1) select 1', true, false, '')", 'update-delete-without-where'],
    ];
    for (const [sql, rule] of attempts) await refused(attacker, sql, rule);
    await assertUntouched();
    // the loopback works: straight to the database the same call runs, so the refusals were the gateway's
    assert.deepEqual((await direct.query(`select dblink_exec('${loopback}', 'set application_name = probe') as r`)).rows, [{ r: 'SET' }]);
  });

  test('switching roles through set_config or pg_settings is refused; other settings pass', async () => {
    const before = (await attacker.query('select current_user as u')).rows[0].u;
    await refused(attacker, "select set_config('role', 'powerful', false)", 'role-change');
    await refused(attacker, "select pg_catalog.set_config('ROLE', 'powerful', false)", 'role-change');
    await refused(attacker, "select query_to_xml('select set_config(''role'', ''powerful'', false)', true, false, '')", 'role-change');
    await refused(attacker, "select set_config(name, 'powerful', false) from pg_settings where name = 'role'", 'dynamic-setting');
    await refused(attacker, "update pg_settings set setting = 'powerful' where name = 'role'", 'dynamic-setting');
    assert.equal((await attacker.query('select current_user as u')).rows[0].u, before);
    assert.equal((await attacker.query("select current_setting('role') as r")).rows[0].r, 'none');
    // nor may the session start reading backslashes in strings differently from the gateway
    await refused(attacker, 'set standard_conforming_strings = off', 'nonstandard-strings');
    await refused(attacker, "select set_config('standard_conforming_strings', 'off', false)", 'nonstandard-strings');
    assert.equal((await attacker.query('show standard_conforming_strings')).rows[0].standard_conforming_strings, 'on');
    // an everyday set_config still runs
    await attacker.query("select set_config('statement_timeout', '30s', false)");
    assert.equal((await attacker.query('show statement_timeout')).rows[0].statement_timeout, '30s');
  });

  test('ordinary uses of the same functions still run', async () => {
    const xml = (await attacker.query("select query_to_xml('select id, total from orders where id = 1', true, false, '') as x")).rows[0].x;
    assert.match(xml, /<total>10<\/total>/);
    const words = await attacker.query("select word from ts_stat('select to_tsvector(''simple'', ''gate house'')') order by word");
    assert.deepEqual(words.rows, [{ word: 'gate' }, { word: 'house' }]);
    assert.match((await attacker.query("select table_to_xml('orders', true, false, '') as x")).rows[0].x, /<id>2<\/id>/);
    assert.deepEqual((await attacker.query('select id from orders order by id limit 1')).rows, [{ id: 1 }]);
  });

  test('everyday statements pass untouched', async () => {
    const everyday: [string, unknown[]?][] = [
      ['select id, name from items where id = 1'],
      ['select id, name from items where id = $1', [2]],
      ['select count(*)::int as n from items where price > 2'],
      ['select name from items order by price desc limit 2'],
      ["select name from items where name like 'b%' limit 10 offset 0"],
      ['select i.name, o.total from items i join orders o on o.id = i.id where o.total >= 10'],
      ['with cheap as (select id from items where price < 5) select count(*) from cheap'],
      ["insert into items (name, price) values ('washer', 2) returning id"],
      ['insert into items (name, price) values ($1, $2)', ['spring', 4]],
      ["insert into audit_log (doc) values ('drop table items; select pg_terminate_backend(1)')"],
      ['update items set price = price + 1 where id = 1'],
      ["update items set name = $1, updated_at = now() where id = $2", ['bolt m3', 1]],
      ["delete from items where name = 'washer'"],
      ['begin'],
      ['update items set price = 5 where id = 2'],
      ['commit'],
      ["select set_config('application_name', 'agent-report', false)"],
      ['explain select * from items where id = 1'],
      ["select query_to_xml('select name from items where id = 3', true, false, '')"],
      ["select to_char(now(), 'YYYY-MM-DD') as day, coalesce(max(price), 0) from items"],
    ];
    for (const [text, values] of everyday) await attacker.query({ text, values });
    assert.deepEqual((await direct.query('select name, price from items order by id')).rows, [
      { name: 'bolt m3', price: 4 },
      { name: 'nut', price: 5 },
      { name: 'gear', price: 12 },
      { name: 'spring', price: 4 },
    ]);
    assert.deepEqual((await direct.query('select doc from audit_log')).rows, [{ doc: 'drop table items; select pg_terminate_backend(1)' }]);
  });

  test('every refusal is recorded with its rule', async () => {
    const rules = ['sql-destructive/dangerous-function', 'sql-destructive/dynamic-sql', 'sql-destructive/drop', 'sql-destructive/role-change', 'sql-destructive/dynamic-setting'];
    const denied = async () => (await recordedSessions(g.t)).flatMap((s) => s.interactions).filter((i) => i.decision === 'deny');
    await eventually(async () => {
      const seen = new Set((await denied()).map((i) => i.rule));
      return rules.every((r) => seen.has(r));
    }, 5000, 'the refusals recorded');
    for (const i of await denied()) assert.equal(i.errorCode, 'policy_denied');
  });
});
