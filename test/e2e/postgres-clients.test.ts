/**
 * Real clients through the gateway against a real PostgreSQL: the pg driver (simple, extended,
 * prepared, cursors, COPY, LISTEN/NOTIFY, cancel, large values), psql scripts and meta-commands,
 * and pgbench. Every assertion is about what the client gets back or what the database holds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import pg from 'pg';
import { startPgGateway, recordedSessions, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { pollUntil } from '../support/poll.ts';

describe('postgres adapter with real clients', () => {
  let g: PgGateway;
  let token: string;
  let dir: string;

  before(async () => {
    g = await startPgGateway();
    token = await g.token();
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-pg-clients-'));
  });
  after(async () => {
    await g?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Waits until the database is running `sql` (as pg_stat_activity shows it), so a cancel cannot arrive too early. */
  const runningOnServer = async (sql: string) => {
    const watcher = await g.client(token);
    try {
      const active = async () =>
        (await watcher.query("select count(*)::int as n from pg_stat_activity where state = 'active' and query = $1", [sql])).rows[0].n > 0;
      await pollUntil(active, `"${sql}" running`);
    } finally {
      await watcher.end();
    }
  };

  test('pg driver: simple and extended protocol, named prepared statements, NULLs and types', async () => {
    const c = await g.client(token);
    await c.query('create table items (id int primary key, name text, price numeric, tags text[])');
    const inserted = await c.query('insert into items values ($1, $2, $3, $4), ($5, $6, $7, $8)', [1, 'apple', '1.50', ['a', 'b'], 2, null, null, null]);
    assert.equal(inserted.rowCount, 2);
    const simple = await c.query('select id, name from items order by id');
    assert.deepEqual(simple.rows, [{ id: 1, name: 'apple' }, { id: 2, name: null }]);
    for (let i = 0; i < 3; i++) {
      const named = await c.query({ name: 'by-id', text: 'select name, price, tags from items where id = $1', values: [1] });
      assert.deepEqual(named.rows, [{ name: 'apple', price: '1.50', tags: ['a', 'b'] }]);
    }
    const multi = await c.query('select 1 as a; select 2 as b');
    assert.deepEqual((multi as unknown as pg.QueryResult[]).map((r) => r.rows), [[{ a: 1 }], [{ b: 2 }]]);
    const empty = await c.query('');
    assert.equal(empty.rowCount, null);
  });

  test('pg driver: transactions keep the state PostgreSQL reports, errors roll back', async () => {
    const c = await g.client(token);
    await c.query('create table ledger (v int)');
    await c.query('begin');
    await c.query('insert into ledger values (1)');
    await assert.rejects(c.query('select 1/0'), (err: any) => err.code === '22012');
    await assert.rejects(c.query('insert into ledger values (2)'), (err: any) => err.code === '25P02');
    await c.query('rollback');
    await c.query('begin');
    await c.query('insert into ledger values (3)');
    await c.query('commit');
    assert.deepEqual((await c.query('select v from ledger')).rows, [{ v: 3 }]);
  });

  test('pg driver: cursors with DECLARE/FETCH and SQL-level PREPARE/EXECUTE', async () => {
    const c = await g.client(token);
    await c.query('begin');
    await c.query('declare cur cursor for select g from generate_series(1, 10) g');
    assert.deepEqual((await c.query('fetch 3 from cur')).rows.map((r) => r.g), [1, 2, 3]);
    assert.deepEqual((await c.query('fetch 2 from cur')).rows.map((r) => r.g), [4, 5]);
    await c.query('close cur');
    await c.query('commit');
    await c.query('prepare twice (int) as select $1 * 2 as v');
    assert.deepEqual((await c.query('execute twice(21)')).rows, [{ v: 42 }]);
    await c.query('deallocate twice');
  });

  test('pg driver: a large result set streams through intact', async () => {
    const c = await g.client(token);
    const rows = await c.query('select g, md5(g::text) as h from generate_series(1, 20000) g');
    assert.equal(rows.rowCount, 20000);
    assert.equal(rows.rows[19999].g, 20000);
  });

  test('pg driver: a 10 MB value in a parameter and in a row', async () => {
    const c = await g.client(token);
    const big = 'x'.repeat(10 * 1024 * 1024);
    const echoed = await c.query('select length($1::text) as n, $1::text as v', [big]);
    assert.equal(echoed.rows[0].n, big.length);
    assert.equal(echoed.rows[0].v, big);
  });

  test('pg driver: LISTEN/NOTIFY and notices pass through', async () => {
    const listener = await g.client(token);
    const notifier = await g.client(token);
    const got: string[] = [];
    const notified = new Promise<void>((resolve) =>
      listener.on('notification', (n) => {
        got.push(`${n.channel}:${n.payload}`);
        resolve();
      }),
    );
    const notices: string[] = [];
    notifier.on('notice', (n) => notices.push(n.message ?? ''));
    await listener.query('listen jobs');
    await notifier.query("notify jobs, 'hello'");
    await notifier.query("do $$ begin raise notice 'careful now'; end $$");
    await notified;
    assert.deepEqual(got, ['jobs:hello']);
    assert.deepEqual(notices, ['careful now']);
  });

  test('pg driver: cancel stops a running pg_sleep and the session stays usable', async () => {
    const c = await g.client(token);
    const sleeping = c.query('select pg_sleep(20)');
    await runningOnServer('select pg_sleep(20)');
    const canceller = new pg.Client({ host: '127.0.0.1', port: g.port, database: CONNECTION, user: 'agent', password: token });
    (canceller as any).cancel(c, (c as any).activeQuery);
    // 57014 (query_canceled) can only come from the cancel: the sleep itself would end without error.
    await assert.rejects(sleeping, (err: any) => err.code === '57014');
    assert.deepEqual((await c.query('select 1 as ok')).rows, [{ ok: 1 }]);
  });

  test('a cancel request with a wrong key cancels nothing', async () => {
    const c = await g.client(token);
    const sleeping = c.query('select pg_sleep(2) as done');
    // Sent while the statement runs, so a right key would have cancelled it.
    await runningOnServer('select pg_sleep(2) as done');
    const request = Buffer.alloc(16);
    request.writeInt32BE(16, 0);
    request.writeInt32BE(80877102, 4);
    request.writeInt32BE((c as any).processID, 8);
    request.writeInt32BE(((c as any).secretKey + 1) | 0, 12);
    await new Promise<void>((resolve) => {
      const socket = connect(g.port, '127.0.0.1', () => socket.end(request));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    assert.equal((await sleeping).rowCount, 1);
  });

  test('psql: meta-commands, a script with ON_ERROR_STOP, \\copy in and out', async () => {
    const csv = join(dir, 'people.csv');
    await writeFile(csv, '1,ada\n2,grace\n3,edsger\n');
    const out = join(dir, 'out.csv');
    const script = [
      'create table people (id int, name text);',
      `\\copy people from '${csv}' with (format csv)`,
      '\\dt',
      '\\d people',
      'begin;',
      "insert into people values (4, 'barbara');",
      'commit;',
      'select count(*) as n from people;',
      `\\copy (select * from people order by id) to '${out}' with (format csv)`,
    ].join('\n');
    const run = await g.psql(token, ['-v', 'ON_ERROR_STOP=1', '-f', '-'], script);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /people/);
    assert.match(run.stdout, /id\s+\|\s+integer/);
    assert.match(run.stdout, /COPY 3/);
    assert.match(run.stdout, /\n\s+4\n/);
    assert.equal(await readFile(out, 'utf8'), '1,ada\n2,grace\n3,edsger\n4,barbara\n');

    const stopped = await g.psql(token, ['-v', 'ON_ERROR_STOP=1', '-f', '-'], 'select 1/0;\nselect 42 as never;\n');
    assert.equal(stopped.code, 3);
    assert.match(stopped.stderr, /division by zero/);
    assert.doesNotMatch(stopped.stdout, /never/);
  });

  test('psql: SIGINT cancels a running statement', async () => {
    const child = g.spawnPsql(token, ['-c', 'select pg_sleep(20) as psql_sleep']);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    await runningOnServer('select pg_sleep(20) as psql_sleep');
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /canceling statement due to user request/);
  });

  test('pgbench: initialise and a short run in each query mode', async () => {
    const pgbench = join(g.binDir, 'pgbench');
    const env = { ...process.env, PGPASSWORD: token, PGHOST: '127.0.0.1', PGPORT: String(g.port), PGUSER: 'agent' };
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(pgbench, args, { env, timeout: 60_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 99) : 0, out: stdout + stderr }),
        ),
      );
    const init = await run(['-i', '-s', '1', '-q', CONNECTION]);
    assert.equal(init.code, 0, init.out);
    for (const mode of ['simple', 'extended', 'prepared']) {
      const bench = await run(['-c', '2', '-j', '1', '-t', '20', '-M', mode, CONNECTION]);
      assert.equal(bench.code, 0, bench.out);
      assert.match(bench.out, /number of transactions actually processed: 40\/40/);
      assert.match(bench.out, /number of failed transactions: 0/);
    }
    const direct = await g.direct();
    // each run starts by truncating pgbench_history: the last run's 40 transactions are there
    assert.equal((await direct.query('select count(*)::int as n from pgbench_history')).rows[0].n, 40);
  });

  test('every statement is recorded in its session, in order, with parameters and row counts', async () => {
    const c = await g.client(token, { application_name: 'recorder-check' });
    await c.query('select 1 as a');
    await c.query('select $1::text as b', ['param-value']);
    await assert.rejects(c.query('select * from no_such_table'));
    await c.end();
    const mine = async () => (await recordedSessions(g.t)).find((s) => s.interactions.some((i) => /param-value/.test(i.requestBody ?? '')));
    await pollUntil(async () => {
      const s = await mine();
      return s !== undefined && s.session.endedAt !== null && s.interactions.length === 3 && s.interactions.every((i) => i.completedAt !== null);
    }, 'session recorded and ended');
    const session = (await mine())!;
    assert.equal(session.session.protocol, 'postgres');
    assert.deepEqual(session.interactions.map((i) => i.target), ['select 1 as a', 'select $1::text as b', 'select * from no_such_table']);
    assert.deepEqual(session.interactions.map((i) => i.seq), [1, 2, 3]);
    const [first, second, third] = session.interactions;
    assert.equal(JSON.parse(first.responseBody).rows, 1);
    assert.deepEqual(JSON.parse(second.requestBody), { sql: 'select $1::text as b', params: ['param-value'] });
    // The database's own SQLSTATE is the upstream's code; the gateway itself refused nothing.
    assert.equal(third.upstreamCode, '42P01');
    assert.equal(third.errorCode, null);
    assert.ok(session.interactions.every((i) => i.kind === 'sql.query' && i.decision === 'allow' && typeof i.latencyMs === 'number'));
    assert.equal((await g.t.api('GET', `/sessions/${session.session.id}`)).json.chain.ok, true);
  });
});
