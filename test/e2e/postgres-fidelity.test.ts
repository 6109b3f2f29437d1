/**
 * Startup settings through the gateway (issue 18, item 1) with real clients and a real database:
 * what a client sets at startup is what the database applies (pg's own startup options, psql's
 * PGOPTIONS, the `postgres` driver's `connection`), and what would change identity or privileges,
 * hide activity or change how SQL reads is refused with a FATAL the client shows, naming the
 * setting. The database's login role here is a superuser, so a setting that slipped through would
 * take effect: each refusal is checked to have left no session behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { CONNECTION, startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let g: PgGateway;
let token: string;

before(async () => {
  g = await startPgGateway({ postgres: {} });
  token = await g.token();
});
after(async () => {
  await g?.close();
});

/** A pg login through the gateway that must fail: its error. */
async function pgRefusal(config: Partial<pg.ClientConfig>): Promise<any> {
  const c = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password: token, ...config });
  const errors: unknown[] = [];
  c.on('error', (err) => errors.push(err));
  const err = await c.connect().then(
    () => assert.fail('the login was accepted'),
    (e) => e,
  );
  await c.end().catch(() => undefined);
  assert.deepEqual(errors, [], 'the refusal reaches connect() only');
  return err;
}

/** The database's sessions by application_name: a refused login must leave none. */
async function backends(applicationName: string): Promise<number> {
  const direct = await g.direct();
  try {
    const { rows } = await direct.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [applicationName]);
    return rows[0].n as number;
  } finally {
    await direct.end();
  }
}

describe('settings a client makes at startup reach the database', () => {
  test('pg: statement_timeout, lock_timeout, idle_in_transaction_session_timeout and options', async () => {
    const c = await g.client(token, {
      statement_timeout: 50,
      lock_timeout: 60,
      idle_in_transaction_session_timeout: 70_000,
      application_name: 'fidelity-pg',
      options: '-c search_path="app\\ data",public --default-transaction-isolation=serializable -cwork_mem=5MB',
    });
    const show = async (name: string) => (await c.query(`show ${name}`)).rows[0][name];
    assert.equal(await show('statement_timeout'), '50ms');
    assert.equal(await show('lock_timeout'), '60ms');
    assert.equal(await show('idle_in_transaction_session_timeout'), '70s');
    assert.equal(await show('search_path'), '"app data",public');
    assert.equal(await show('default_transaction_isolation'), 'serializable');
    assert.equal(await show('work_mem'), '5MB');
    assert.equal(await show('application_name'), 'fidelity-pg');
    // the limit is live, not only shown: the database cancels a longer statement
    await assert.rejects(c.query('select pg_sleep(5)'), (err: any) => err.code === '57014');
    assert.deepEqual((await c.query('select 1 as n')).rows, [{ n: 1 }]);
  });

  test('psql: PGOPTIONS with -c, -c<name>, --name and an escaped space', async () => {
    const run = await g.psql(token, ['-At', '-c', 'show statement_timeout', '-c', 'show search_path', '-c', 'show lock_timeout'], undefined, {
      PGOPTIONS: '-c statement_timeout=50 -csearch_path="a\\ b",public --lock-timeout=2s',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['50ms', '"a b",public', '2s']);
  });

  test('psql: startup parameters win over options, as PostgreSQL applies them', async () => {
    const run = await g.psql(token, ['-At', '-c', 'show application_name'], undefined, { PGOPTIONS: '-c application_name=from-options', PGAPPNAME: 'from-parameter' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'from-parameter');
  });

  test('the postgres driver: its connection startup parameters', async () => {
    const sql = postgres({
      host: '127.0.0.1',
      port: g.port,
      database: CONNECTION,
      username: 'agent',
      password: token,
      max: 1,
      onnotice: () => undefined,
      connection: { statement_timeout: 50, search_path: 'public', application_name: 'fidelity-postgres-js', DateStyle: 'SQL, DMY' },
    });
    try {
      const [row] = await sql`select current_setting('statement_timeout') as t, current_setting('application_name') as a, current_setting('DateStyle') as d`;
      assert.deepEqual({ ...row }, { t: '50ms', a: 'fidelity-postgres-js', d: 'SQL, DMY' });
      await assert.rejects(sql`select pg_sleep(5)`, (err: any) => err.code === '57014');
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('settings that would change identity, privileges or the record are refused by name', () => {
  const cases: { name: string; config: Partial<pg.ClientConfig>; setting: string }[] = [
    { name: '-c role=… in options', config: { options: '-c role=pg_read_all_data' }, setting: 'role' },
    { name: '-crole=…', config: { options: '-crole=pg_read_all_data' }, setting: 'role' },
    { name: '--role=…', config: { options: '--role=pg_read_all_data' }, setting: 'role' },
    { name: '-c  role=… after two spaces', config: { options: '-c  role=pg_read_all_data' }, setting: 'role' },
    // read from options, names are shown as PostgreSQL reads them: lower case, - as _
    { name: '--ROLE=… in upper case', config: { options: '--ROLE=pg_read_all_data' }, setting: 'role' },
    { name: 'session_authorization behind a harmless setting', config: { options: '-c work_mem=4MB --session-authorization=agent' }, setting: 'session_authorization' },
    { name: 'session_replication_role', config: { options: '-c session_replication_role=replica' }, setting: 'session_replication_role' },
    { name: 'log_statement', config: { options: '-c log_statement=none' }, setting: 'log_statement' },
    { name: 'pgaudit.log', config: { options: '-c pgaudit.log=none' }, setting: 'pgaudit.log' },
    { name: 'standard_conforming_strings', config: { options: '-c standard_conforming_strings=off' }, setting: 'standard_conforming_strings' },
    { name: 'zero_damaged_pages', config: { options: '-c zero_damaged_pages=on' }, setting: 'zero_damaged_pages' },
  ];
  for (const { name, config, setting } of cases) {
    test(`pg: ${name}`, async () => {
      const appName = `refused-${setting}`.slice(0, 60);
      const err = await pgRefusal({ ...config, application_name: appName });
      assert.equal(err.severity, 'FATAL');
      assert.equal(err.code, '22023');
      assert.ok(err.message.includes(`startup setting "${setting}"`), err.message);
      assert.equal(await backends(appName), 0);
    });
  }

  test('psql shows the FATAL and exits', async () => {
    for (const [options, setting] of [
      ['-c role=postgres', 'role'],
      ['-crole=postgres', 'role'],
      ['-c log_min_messages=panic', 'log_min_messages'],
      ['-c session_preload_libraries=auto_explain', 'session_preload_libraries'],
    ] as const) {
      const run = await g.psql(token, ['-c', 'select 1'], undefined, { PGOPTIONS: options });
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, new RegExp(`FATAL:  gatehouse: startup setting "${setting}" in options is refused`), run.stderr);
    }
  });

  test('psql: other switches in options are refused, not passed on', async () => {
    const run = await g.psql(token, ['-c', 'select 1'], undefined, { PGOPTIONS: '-P' });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /FATAL:  gatehouse: options: "-P" is not accepted/);
  });

  test('the postgres driver gets the FATAL naming the setting', async () => {
    for (const [connection, setting] of [
      [{ role: 'postgres' }, 'role'],
      [{ session_replication_role: 'replica' }, 'session_replication_role'],
      [{ track_activities: 'off' }, 'track_activities'],
    ] as const) {
      const sql = postgres({ host: '127.0.0.1', port: g.port, database: CONNECTION, username: 'agent', password: token, max: 1, connection });
      try {
        await assert.rejects(sql`select 1`, (err: any) => {
          assert.equal(err.code, '22023');
          assert.ok(err.message.includes(`startup setting "${setting}" as a startup parameter`), err.message);
          return true;
        });
      } finally {
        await sql.end({ timeout: 5 });
      }
    }
  });

  test('a setting the database refuses (unknown name, bad value) comes back as its own message', async () => {
    const bad = await pgRefusal({ options: '-c statement_timeout=soon' });
    assert.equal(bad.code, '22023');
    assert.match(bad.message, /the database refused a startup setting: invalid value for parameter "statement_timeout": "soon"/);
    const unknown = await pgRefusal({ options: '-c no_such_setting=1' });
    assert.equal(unknown.code, '22023');
    assert.match(unknown.message, /unrecognized configuration parameter "no_such_setting"/);
    // A look-alike of role (Cyrillic о) is no setting the database knows.
    const lookalike = await pgRefusal({ options: '-c r\u043ele=postgres' });
    assert.match(lookalike.message, /unrecognized configuration parameter/);
  });

  test('client_encoding other than UTF8 is refused; in options it loses to the driver\'s own UTF8, as in PostgreSQL', async () => {
    const run = await g.psql(token, ['-c', 'select 1'], undefined, { PGCLIENTENCODING: 'WIN1252' });
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /FATAL:  gatehouse: client_encoding WIN1252 is not supported through the gateway; use UTF8/);
    // pg sends client_encoding=UTF8 itself, which PostgreSQL applies after options: both sides say UTF8
    const through = await g.client(token, { options: '-c client_encoding=LATIN1' });
    const direct = new pg.Client({ connectionString: g.db.url, options: '-c client_encoding=LATIN1' });
    await direct.connect();
    try {
      assert.equal((await through.query('show client_encoding')).rows[0].client_encoding, 'UTF8');
      assert.equal((await direct.query('show client_encoding')).rows[0].client_encoding, 'UTF8');
    } finally {
      await direct.end();
    }
  });

  test('a refused login is recorded as one, naming the setting', async () => {
    await pgRefusal({ options: '-c role=postgres', application_name: 'recorded-refusal' });
    const list = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=100`);
    const found = [];
    for (const s of list.json.sessions) {
      const detail = (await g.t.api('GET', `/sessions/${s.id}`)).json;
      for (const i of detail.interactions) if (i.errorCode === 'invalid_argument' && String(i.reason ?? '').includes('"role"')) found.push(i);
    }
    assert.ok(found.length > 0, 'no recorded refusal names the setting');
  });

  test('the user name is not the login: any name, the connection role', async () => {
    const c = await g.client(token, { user: 'someone_else' });
    const { rows } = await c.query('select current_user as u, session_user as s');
    assert.deepEqual(rows, [{ u: g.db.user, s: g.db.user }]);
    assert.ok(
      g.t.logs.some((line) => line.includes('"msg":"postgres session startup"') && line.includes('"user":"someone_else"')),
      'the startup log line names what the client sent',
    );
  });
});

describe('the operator list', () => {
  let db: PostgresServer;
  let h: TestGateway;
  before(async () => {
    db = await startPostgres();
    // The listener starts for the postgres connection; its section comes from the YAML here.
    h = await startTestGateway({
      extraConnections: `  - name: ${CONNECTION}
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
`,
      extraYaml: `postgres:
  listen: 127.0.0.1:0
  refuseStartupSettings: [search_path, "enable_*"]
`,
    });
  });
  after(async () => {
    await h?.close();
    await db?.stop();
  });

  test('refuses its names and prefixes; the rest passes', async () => {
    const t = await h.token({ connections: [CONNECTION] });
    const connect = (options: string) =>
      pgRefusalOr(new pg.Client({ host: '127.0.0.1', port: h.pgPort, database: CONNECTION, user: 'agent', password: t, options }));
    const refused = await connect('-c enable_seqscan=off');
    assert.ok(refused instanceof Error);
    assert.match(refused.message, /startup setting "enable_seqscan" in options is refused: this gateway's configuration refuses it/);
    assert.match(String((await connect('-c Search_Path=x')) as Error), /"search_path"/);
    const passed = await connect('-c work_mem=3MB');
    assert.ok(passed instanceof pg.Client);
    assert.equal((await passed.query('show work_mem')).rows[0].work_mem, '3MB');
    await passed.end();
  });
});

/** Connects: the client, or the error its login ended with. */
async function pgRefusalOr(c: pg.Client): Promise<pg.Client | Error> {
  c.on('error', () => undefined);
  return c.connect().then(
    () => c,
    async (err: Error) => {
      await c.end().catch(() => undefined);
      return err;
    },
  );
}
