/**
 * Human approval over PostgreSQL's wire protocol, with a real database and real clients: the `pg`
 * driver, `psql`, and a raw extended-protocol pipeline. A held statement's client is told its
 * approval id at once in a NoticeResponse; approved, the statement runs exactly once in place;
 * denied, expired, cancelled (CancelRequest) or abandoned, it never reaches the database and the
 * session stays usable with PostgreSQL's own transaction state. The clock is moved by hand.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { startPgGateway, CONNECTION, type PgGateway } from '../adapters/postgres/fixture.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { rawSession, sendCancel } from '../support/pg-raw.ts';
import { ManualTime } from '../approvals/manual-time.ts';

const POLICY = `
policy:
  rules:
    - name: deletes-need-a-dba
      match: { interactions: [sql.query] }
      when: "'delete' in request.sql.kinds"
      action: approve
      approvers: [dba]
      timeout: 15m
    - name: allow-the-rest
      action: allow
`;

const ROLES = `
identity:
  roles:
    - group: dba
      role: approver
    - group: engineering
      role: user
      connections: [${CONNECTION}]
`;

describe('approvals over the PostgreSQL wire protocol', () => {
  let g: PgGateway;
  let time: ManualTime;
  let bob: Person;
  let adaToken: string;
  let direct: pg.Client;

  before(async () => {
    time = new ManualTime(Date.now());
    g = await startPgGateway({ policyYaml: POLICY, extraYaml: ROLES, approvals: { now: time.now, timers: time } });
    bob = await personWithToken(g.t.gateway.store, 'bob', ['dba']);
    adaToken = await g.t.token({ user: 'ada', groups: ['engineering'], connections: [CONNECTION] });
    direct = await g.direct();
    await direct.query('create table orders (id int primary key, note text)');
  });
  after(() => g?.close());

  const reset = async (...ids: number[]) => {
    await direct.query('delete from orders');
    for (const id of ids) await direct.query('insert into orders values ($1, $2)', [id, `order ${id}`]);
  };
  const ids = async () => (await direct.query('select id from orders order by id')).rows.map((r) => r.id as number);
  const approval = async (id: string) => (await g.t.api('GET', `/approvals/${id}`)).json;
  const decide = async (id: string, vote: 'approve' | 'deny', body: object = {}) => {
    const res = await fetch(`${g.t.url}/api/v1/approvals/${id}/${vote}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.text());
  };

  /** A pg client whose notices are collected; `held()` resolves with the approval id the first one names. */
  async function client(): Promise<{ c: pg.Client; held: () => Promise<string>; notices: NoticeMessage[] }> {
    const c = await g.client(adaToken);
    const notices: NoticeMessage[] = [];
    let wake = () => {};
    c.on('notice', (n) => {
      notices.push(n);
      wake();
    });
    const held = async () => {
      while (notices.length === 0) await new Promise<void>((r) => (wake = r));
      const id = /approval (apr_\w+) is pending/.exec(notices[0]!.message ?? '')?.[1];
      assert.ok(id, `the notice names the approval: ${notices[0]!.message}`);
      return id;
    };
    return { c, held, notices };
  }

  /**
   * A raw session that opens a transaction, then sends in one write a held DELETE and `behind`
   * (each Parse, Bind, Execute) and one Sync; resolves once the notice of the hold has arrived.
   */
  async function heldPipeline(behind: string) {
    const raw = await rawSession(g.port, adaToken, CONNECTION);
    raw.send(serialize.query('begin'));
    await raw.until('readyForQuery');
    raw.send(
      Buffer.concat([
        serialize.parse({ text: 'delete from orders where id = $1' }),
        serialize.bind({ values: ['1'] }),
        serialize.execute({}),
        serialize.parse({ text: behind }),
        serialize.bind({}),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    return { raw, notice: await raw.until('notice') };
  }

  /** The query's outcome, settled: a held statement's promise is watched before the test awaits it. */
  const settle = <T>(p: Promise<T>) => p.then((value) => ({ value, error: null as any }), (error) => ({ value: null as T | null, error }));

  test('pg driver: the notice names the approval at once; approved, the statement runs once and the record says approve', async () => {
    await reset(1, 2);
    const { c, held, notices } = await client();
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    assert.equal(notices[0]!.severity, 'NOTICE');
    assert.match(notices[0]!.message!, /rule "deletes-need-a-dba" needs 1 approval\(s\) from a member of dba/);
    assert.match(notices[0]!.hint!, new RegExp(`gatehouse approvals approve ${id}`));
    assert.deepEqual(await ids(), [1, 2], 'nothing ran while it waited');
    assert.equal((await approval(id)).status, 'pending');

    await decide(id, 'approve', { comment: 'cleanup ok' });
    const { value, error } = await run;
    assert.equal(error, null);
    assert.equal(value!.rowCount, 1);
    assert.deepEqual(await ids(), [2]);
    assert.equal((await approval(id)).status, 'used');
    // The session goes on as usual.
    assert.deepEqual((await c.query('select count(*)::int as n from orders')).rows, [{ n: 1 }]);
    await pollUntil(async () => {
      const list = await g.t.api('GET', `/sessions?connection=${CONNECTION}&limit=50`);
      for (const s of list.json.sessions) {
        const rows = (await g.t.api('GET', `/sessions/${s.id}`)).json.interactions as any[];
        if (rows.some((r) => r.summary?.approval === id && r.decision === 'approve' && r.completedAt !== null)) return true;
      }
      return false;
    }, 'the statement recorded under its approval');
  });

  test('denied: the statement fails with approval_denied naming the approval, never runs, and the session is usable', async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query('delete from orders'));
    const id = await held();
    await decide(id, 'deny', { reason: 'not during the freeze' });
    const { error } = await run;
    assert.equal(error?.code, '42501');
    assert.match(error.message, new RegExp(`approval ${id} \\(rule "deletes-need-a-dba"\\) was denied`));
    assert.match(error.detail, /gatehouse code: approval_denied/);
    assert.deepEqual(await ids(), [1]);
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  test('expired (the injected clock passes the timeout): approval_expired, nothing ran, and the session is usable', async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query({ text: 'delete from orders where id = $1', values: [1] }));
    const id = await held();
    time.advance(15 * 60_000);
    time.fire();
    const { error } = await run;
    assert.equal(error?.code, '42501');
    assert.match(error.detail, /gatehouse code: approval_expired/);
    assert.equal((await approval(id)).status, 'expired');
    assert.deepEqual(await ids(), [1]);
    assert.deepEqual((await c.query({ text: 'select $1::int as one', values: [1] })).rows, [{ one: 1 }]);
  });

  test('inside a transaction: approved, it runs in that transaction; denied, the transaction fails as PostgreSQL would, until ROLLBACK', async () => {
    await reset(1, 2);
    const { c, held, notices } = await client();
    const states: string[] = [];
    (c as any).connection.on('readyForQuery', (m: any) => states.push(m.status));
    await c.query('begin');
    await c.query("insert into orders values (3, 'order 3')");
    const run = settle(c.query('delete from orders where id = 1'));
    await decide(await held(), 'approve');
    assert.equal((await run).value?.rowCount, 1);
    await c.query('commit');
    assert.deepEqual(await ids(), [2, 3], 'the insert and the approved delete committed together');

    notices.length = 0;
    await c.query('begin');
    await c.query("insert into orders values (4, 'order 4')");
    const refused = settle(c.query('delete from orders where id = 2'));
    await decide(await held(), 'deny', { reason: 'no' });
    assert.equal((await refused).error?.code, '42501');
    await assert.rejects(c.query('select 1'), (err: any) => err.code === '25P02');
    assert.equal((await c.query('rollback')).command, 'ROLLBACK');
    assert.deepEqual(states.slice(-3), ['E', 'E', 'I']);
    assert.deepEqual(await ids(), [2, 3], 'the failed transaction left nothing');
  });

  test('an extended-protocol pipeline: the held Execute waits, the messages behind it wait too, and after approval all run once, in order, in the transaction', async () => {
    await reset(1, 2);
    const { raw, notice } = await heldPipeline('select count(*)::text as n from orders');
    const id = /approval (apr_\w+)/.exec(notice.message)![1]!;
    assert.deepEqual(await ids(), [1, 2]);
    assert.ok(!raw.seen.some((m) => m.name === 'commandComplete' && raw.seen.indexOf(m) > raw.seen.indexOf(notice)), 'nothing behind the held statement answered yet');
    await decide(id, 'approve');
    const ready = await raw.until('readyForQuery');
    assert.equal(ready.status, 'T', 'still in the transaction');
    const after = raw.seen.slice(raw.seen.indexOf(notice));
    assert.deepEqual(after.filter((m) => m.name === 'commandComplete').map((m) => m.text), ['DELETE 1', 'SELECT 1']);
    assert.deepEqual(after.filter((m) => m.name === 'dataRow').map((m) => m.fields[0]), ['1'], 'the select saw the delete');
    raw.send(serialize.query('commit'));
    await raw.until('readyForQuery');
    assert.deepEqual(await ids(), [2]);
    raw.close();
  });

  test('an extended-protocol pipeline denied: the held Execute fails, PostgreSQL skips to Sync, and the transaction is failed until ROLLBACK', async () => {
    await reset(1, 2);
    const { raw, notice } = await heldPipeline('select 1');
    await decide(/approval (apr_\w+)/.exec(notice.message)![1]!, 'deny', { reason: 'no' });
    const error = await raw.until('error');
    assert.equal(error.code, '42501');
    assert.match(error.detail, /approval_denied/);
    assert.equal((await raw.until('readyForQuery')).status, 'E');
    assert.ok(!raw.seen.some((m) => m.name === 'commandComplete' && raw.seen.indexOf(m) > raw.seen.indexOf(notice)), 'the statement behind it was skipped');
    raw.send(serialize.query('rollback'));
    assert.equal((await raw.until('readyForQuery')).status, 'I');
    raw.send(serialize.query('select 2'));
    assert.equal((await raw.until('readyForQuery')).status, 'I');
    assert.deepEqual(await ids(), [1, 2]);
    raw.close();
  });

  test('two held statements pipelined in one write: the first, approved, runs and answers while the second still waits', async () => {
    await reset(1, 2);
    const raw = await rawSession(g.port, adaToken, CONNECTION);
    raw.send(Buffer.concat([serialize.query('delete from orders where id = 1'), serialize.query('delete from orders where id = 2')]));
    const notice = await raw.until('notice');
    const first = /approval (apr_\w+)/.exec(notice.message)![1]!;
    const after = raw.seen.length;
    await decide(first, 'approve');
    // The first's answer and the second's notice may come in either order: the second is decided by nobody yet.
    const [done, next] = await raw.all(after, 'commandComplete', 'notice');
    assert.equal(done!.text, 'DELETE 1', 'the approved statement answered');
    const second = /approval (apr_\w+)/.exec(next!.message)![1]!;
    assert.notEqual(second, first);
    assert.deepEqual(await ids(), [2]);
    assert.equal((await approval(second)).status, 'pending');
    await decide(second, 'deny', { reason: 'one is enough' });
    assert.equal((await raw.all(after, 'error'))[0]!.code, '42501');
    assert.deepEqual(await ids(), [2]);
    raw.close();
  });

  test('a CancelRequest withdraws the held statement: it never reaches the database, and its approval can never run', async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    await sendCancel(g.port, (c as any).processID, (c as any).secretKey);
    const { error } = await run;
    assert.equal(error?.code, '57014');
    assert.match(error.detail, /gatehouse code: approval_withdrawn/);
    assert.equal((await approval(id)).status, 'withdrawn');
    const late = await fetch(`${g.t.url}/api/v1/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(late.status, 409);
    assert.deepEqual(await ids(), [1]);
    // A cancel with nothing held goes to the database as before: the session is usable and a cancel of nothing is harmless.
    await sendCancel(g.port, (c as any).processID, (c as any).secretKey);
    // PostgreSQL applies a forwarded cancel to whatever the backend runs when it lands: under load that
    // may be the next statement (57014, as with a direct connection). Either way the session stays usable.
    const next = await settle(c.query('select 1 as one'));
    if (next.error) assert.equal(next.error.code, '57014', String(next.error));
    else assert.deepEqual(next.value?.rows, [{ one: 1 }]);
    assert.deepEqual((await c.query('select 2 as two')).rows, [{ two: 2 }]);
  });

  test('a cancel with a wrong key is ignored: the statement goes on waiting', async () => {
    await reset(1);
    const { c, held } = await client();
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    const key = (c as any).secretKey as number;
    await sendCancel(g.port, (c as any).processID, key ^ 1);
    await sendCancel(g.port, ((c as any).processID as number) ^ 1, key);
    assert.equal((await approval(id)).status, 'pending');
    await decide(id, 'approve');
    assert.equal((await run).value?.rowCount, 1);
  });

  test('a client that disconnects withdraws its held statement', async () => {
    await reset(1);
    const { c, held } = await client();
    void settle(c.query('delete from orders where id = 1'));
    const id = await held();
    (c as any).connection.stream.destroy();
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'the approval withdrawn');
    assert.deepEqual(await ids(), [1]);
  });

  test('the database ends the idle transaction under a held statement (idle_in_transaction_session_timeout): one FATAL, and the approval is withdrawn', async () => {
    await reset(1);
    const { c, held } = await client();
    const errors: Error[] = [];
    c.on('error', (err) => errors.push(err));
    await c.query('begin');
    await c.query("set local idle_in_transaction_session_timeout = '50ms'");
    const run = settle(c.query('delete from orders where id = 1'));
    const id = await held();
    const { error } = await run;
    // The database's own FATAL reaches the client, and nothing else: no second error of the gateway's.
    assert.equal(error?.code, '25P03');
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'the approval withdrawn');
    // pg reports the closed socket itself ('Connection terminated unexpectedly'), as it does straight to PostgreSQL.
    assert.deepEqual(errors.filter((err: any) => err.code !== undefined || /gatehouse/.test(err.message)), []);
    assert.deepEqual(await ids(), [1]);
  });

  test('psql: the NOTICE shows the approval id at once; approved through the CLI, psql prints the result', async () => {
    await reset(1, 2);
    const child = g.spawnPsql(adaToken, ['-c', 'delete from orders where id = 2']);
    const exited = once(child, 'exit');
    let stderr = '';
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const id = await new Promise<string>((resolve) =>
      child.stderr!.on('data', (d) => {
        stderr += d;
        const m = /NOTICE:\s+gatehouse: approval (apr_\w+) is pending/.exec(stderr);
        if (m) resolve(m[1]!);
      }),
    );
    const cli = await runCli(bob.token, 'approvals', 'approve', id);
    assert.equal(cli.code, 0, cli.stderr);
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /DELETE 1/);
    assert.deepEqual(await ids(), [1]);
  });

  test('psql: Ctrl-C (SIGINT sends a CancelRequest) withdraws the statement', async () => {
    await reset(1);
    const child = g.spawnPsql(adaToken, ['-c', 'delete from orders where id = 1']);
    const exited = once(child, 'exit');
    let stderr = '';
    const id = await new Promise<string>((resolve) =>
      child.stderr!.on('data', (d) => {
        stderr += d;
        const m = /approval (apr_\w+) is pending/.exec(stderr);
        if (m) resolve(m[1]!);
      }),
    );
    child.kill('SIGINT');
    const [code] = await exited;
    assert.notEqual(code, 0);
    assert.match(stderr, /was withdrawn \(the client left or cancelled/);
    assert.equal((await approval(id)).status, 'withdrawn');
    assert.deepEqual(await ids(), [1]);
  });

  function runCli(token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return import('node:child_process').then(
      ({ execFile }) =>
        new Promise((resolve) => {
          execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env: { ...process.env, GATEHOUSE_URL: g.t.url, GATEHOUSE_TOKEN: token } }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        }),
    );
  }
});

describe('a gateway restarting while a statement waits', () => {
  test('the client hears approval_required naming its approval, which stays pending; approved after the restart, the same statement runs once', async () => {
    const g = await startPgGateway({ policyYaml: POLICY, extraYaml: ROLES });
    let restarted: Awaited<ReturnType<typeof g.t.restart>> | null = null;
    try {
      const bob = await personWithToken(g.t.gateway.store, 'bob', ['dba']);
      const direct = await g.direct();
      await direct.query('create table orders (id int primary key)');
      await direct.query('insert into orders values (1), (2)');
      const token = await g.t.token({ user: 'ada', groups: ['engineering'], connections: [CONNECTION] });
      const c = await g.client(token);
      let noticed!: (id: string) => void;
      const held = new Promise<string>((resolve) => (noticed = resolve));
      c.on('notice', (n) => noticed(/approval (apr_\w+)/.exec(n.message ?? '')![1]!));
      const run = c.query('delete from orders where id = 1').then(() => null, (err) => err);
      const id = await held;

      restarted = await g.t.restart();
      const error = await run;
      assert.equal(error?.code, '42501');
      assert.match(error.detail, /gatehouse code: approval_required/);
      assert.match(error.message, new RegExp(`approval ${id} is pending`));
      assert.equal((await restarted.api('GET', `/approvals/${id}`)).json.status, 'pending', 'a stop decides nothing');
      assert.deepEqual((await direct.query('select id from orders order by id')).rows, [{ id: 1 }, { id: 2 }]);

      const approved = await fetch(`${restarted.url}/api/v1/approvals/${id}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(approved.status, 200);
      const again = new pg.Client({ host: '127.0.0.1', port: restarted.pgPort, database: CONNECTION, user: 'agent', password: token });
      await again.connect();
      try {
        const notices: unknown[] = [];
        again.on('notice', (n) => notices.push(n));
        assert.equal((await again.query('delete from orders where id = 1')).rowCount, 1);
        assert.deepEqual(notices, [], 'it ran under the approval, without waiting');
      } finally {
        await again.end();
      }
      assert.equal((await restarted.api('GET', `/approvals/${id}`)).json.status, 'used');
      assert.deepEqual((await direct.query('select id from orders order by id')).rows, [{ id: 2 }]);
    } finally {
      await restarted?.gateway.close();
      await g.close();
    }
  });
});
