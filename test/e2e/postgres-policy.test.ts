/**
 * Decisions on SQL through the wire: denials (a rule and the sql-destructive pack) arrive as
 * 42501 errors and leave the session usable; inside a transaction the state is PostgreSQL's own;
 * masking rewrites rows for the pg driver and never leaks the raw value.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPgGateway, recordedSessions, eventually, type PgGateway } from '../adapters/postgres/fixture.ts';

const SSN = '123-45-6789';
const EMAIL = 'ada.lovelace@example.org';

const POLICY = `
policy:
  include: [sql-destructive]
  rules:
    - name: secrets-off-limits
      match: { interactions: [sql.query] }
      when: "'vault' in request.sql.tables"
      action: deny
      reason: the vault table is off limits to agents
    - name: customers-masked
      match: { interactions: [sql.query] }
      when: "'customers' in request.sql.tables"
      action: allow
      mask: customer-data
    - name: allow-the-rest
      action: allow
masking:
  profiles:
    customer-data:
      entities: { email: redact }
      columns: [ssn]
`;

describe('postgres adapter: policy and masking', () => {
  let g: PgGateway;
  let token: string;

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
    token = await g.token();
    const direct = await g.direct();
    await direct.query('create table vault (secret text)');
    await direct.query('create table customers (id int, name text, ssn text, note text)');
    await direct.query(`insert into customers values (1, 'Ada', '${SSN}', 'write to ${EMAIL} soon'), (2, 'Grace', null, 'nothing here')`);
    await direct.query('create table orders (id int, total int)');
    await direct.query('insert into orders values (1, 10), (2, 20)');
  });
  after(() => g?.close());

  test('a denied statement gets 42501 with the reason and rule, and the session goes on', async () => {
    const c = await g.client(token);
    for (const query of [() => c.query('select * from vault'), () => c.query({ text: 'select secret from vault where secret = $1', values: ['x'] })]) {
      await assert.rejects(query(), (err: any) => {
        assert.equal(err.code, '42501');
        assert.match(err.message, /vault table is off limits/);
        assert.match(err.detail, /rule: secrets-off-limits/);
        return true;
      });
      assert.deepEqual((await c.query('select count(*)::int as n from orders')).rows, [{ n: 2 }]);
    }
  });

  test('the sql-destructive pack denies DROP, TRUNCATE, WHERE-less UPDATE and unparseable text, with nothing run', async () => {
    const c = await g.client(token);
    const cases: [string, string][] = [
      ['drop table orders', 'sql-destructive/drop'],
      ['truncate orders', 'sql-destructive/truncate'],
      ['update orders set total = 0', 'sql-destructive/update-delete-without-where'],
      ['with x as (update orders set total = 0 returning 1) select * from x', 'sql-destructive/update-delete-without-where'],
      ['selec * from orders', 'sql-destructive/unparseable'],
      ["copy orders to program 'cat'", 'sql-destructive/copy-program'],
      ['set role postgres', 'sql-destructive/role-change'],
    ];
    for (const [sql, rule] of cases) {
      await assert.rejects(c.query(sql), (err: any) => err.code === '42501' && err.detail.includes(`rule: ${rule}`), sql);
    }
    const direct = await g.direct();
    assert.deepEqual((await direct.query('select total from orders order by id')).rows, [{ total: 10 }, { total: 20 }]);
  });

  test('a denial inside a transaction fails it as PostgreSQL would, until ROLLBACK', async () => {
    const c = await g.client(token);
    const states: string[] = [];
    (c as any).connection.on('readyForQuery', (m: any) => states.push(m.status));
    await c.query('begin');
    await c.query('update orders set total = total + 1 where id = 1');
    await assert.rejects(c.query('drop table orders'), (err: any) => err.code === '42501');
    await assert.rejects(c.query('select 1'), (err: any) => err.code === '25P02');
    const committed = await c.query('commit');
    assert.equal(committed.command, 'ROLLBACK', 'COMMIT of a failed transaction rolls back');
    assert.deepEqual(states.slice(-4), ['T', 'E', 'E', 'I']);
    assert.deepEqual((await c.query('select total from orders where id = 1')).rows, [{ total: 10 }]);

    // the same through the extended protocol, and ROLLBACK recovers
    await c.query('begin');
    await assert.rejects(c.query({ text: 'drop table orders', values: [] }), (err: any) => err.code === '42501');
    await assert.rejects(c.query({ text: 'select $1::int', values: [1] }), (err: any) => err.code === '25P02');
    await c.query('rollback');
    assert.deepEqual((await c.query({ text: 'select $1::int as one', values: [1] })).rows, [{ one: 1 }]);
  });

  test('rows are masked by column name and by content, in simple and extended protocol', async () => {
    const c = await g.client(token);
    const simple = await c.query('select id, name, ssn, note from customers order by id');
    const extended = await c.query({ text: 'select id, name, ssn, note from customers where id >= $1 order by id', values: [1] });
    const prepared = await c.query({ name: 'cust', text: 'select ssn, note from customers where id = $1', values: [1] });
    for (const result of [simple, extended]) {
      assert.equal(result.rows.length, 2);
      assert.equal(result.rows[0].name, 'Ada');
      assert.equal(result.rows[0].ssn, '[REDACTED]');
      assert.doesNotMatch(result.rows[0].note, /lovelace/);
      assert.match(result.rows[0].note, /^write to \[EMAIL\] soon$/);
      assert.equal(result.rows[1].ssn, null, 'NULL stays NULL');
      assert.equal(result.rows[1].note, 'nothing here');
    }
    assert.deepEqual(prepared.rows, [{ ssn: '[REDACTED]', note: 'write to [EMAIL] soon' }]);
    // unmasked tables pass untouched
    assert.deepEqual((await c.query("select 'x@y.org' as e")).rows, [{ e: 'x@y.org' }]);
  });

  test('a masked result in binary format or as COPY output fails closed', async () => {
    const c = await g.client(token);
    await assert.rejects(c.query({ text: 'select ssn from customers where id = $1', values: [1], binary: true } as any), (err: any) => {
      assert.equal(err.code, 'XX000');
      assert.match(err.message, /binary/);
      return true;
    });
    await assert.rejects(c.query('copy customers to stdout (format binary)'), (err: any) => /COPY/.test(err.message) && /binary/.test(err.message));
    await c.query('begin');
    await c.query('declare bc binary cursor for select ssn from customers');
    await assert.rejects(c.query('fetch all from bc'), (err: any) => /binary/.test(err.message));
    await c.query('rollback');
    assert.deepEqual((await c.query('select count(*)::int as n from customers')).rows, [{ n: 2 }]);
  });

  test('the raw values never reach the recording or the logs', async () => {
    const c = await g.client(token);
    await c.query({ text: 'select ssn, note from customers where note like $1', values: [`%${EMAIL}%`] });
    await c.end();
    const done = (sessions: { interactions: any[] }[]) =>
      sessions.some((s) => s.interactions.some((i) => /like \$1/.test(i.target ?? '') && i.completedAt !== null));
    await eventually(async () => done(await recordedSessions(g.t)), 5000, 'the statement recorded');
    const sessions = await recordedSessions(g.t);
    const recorded = JSON.stringify(sessions);
    assert.ok(sessions.length > 0);
    assert.ok(!recorded.includes(SSN), 'no SSN in recordings');
    assert.ok(!recorded.includes(EMAIL), 'no email in recordings');
    const logs = g.t.logs.join('');
    assert.ok(!logs.includes(SSN) && !logs.includes(EMAIL), 'nothing in the logs');
    const denied = sessions.flatMap((s) => s.interactions).filter((i) => i.decision === 'deny');
    assert.ok(denied.some((i) => i.rule === 'sql-destructive/drop' && i.errorCode === 'policy_denied'));
  });

  test('a session-wide concurrency limit holds one slot per connection', async () => {
    const limited = await startPgGateway({
      policyYaml: `
policy:
  rules:
    - name: one-agent-at-a-time
      action: allow
      limits: { concurrentSessionsPerIdentity: 1 }
`,
    });
    try {
      const t = await limited.token();
      const first = await limited.client(t);
      const second = await limited.client(t);
      await first.query('select 1');
      await first.query('select 2');
      await assert.rejects(second.query('select 1'), (err: any) => err.code === '53300');
      await first.end();
      await eventually(async () => {
        try {
          await second.query('select 1');
          return true;
        } catch {
          return false;
        }
      }, 5000, 'slot released');
    } finally {
      await limited.close();
    }
  });
});
