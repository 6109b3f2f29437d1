/**
 * Two gateways on one PostgreSQL store: a grant revoked through one ends, at once, the live `pg`
 * session on the other whose decisions relied on it. The first gateway's wake-ups are never
 * fired, so only the coordination event can end it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { ManualTime } from '../approvals/manual-time.ts';
import { ACCESS_YAML, WRITES_NEED_A_GRANT } from '../approvals/grants-fixtures.ts';

describe('just-in-time access across two gateways on one PostgreSQL', () => {
  let server: PostgresServer;
  let a: TestGateway;
  let b: TestGateway;
  let ada: Person;
  let bob: Person;
  const clients: pg.Client[] = [];
  const quiet = new ManualTime(Date.now());

  before(async () => {
    server = await startPostgres();
    const direct = new pg.Client({ connectionString: server.url });
    await direct.connect();
    await direct.query('create table jit_incidents (id int)');
    await direct.end();
    const shared = {
      databaseUrl: server.url,
      policyYaml: WRITES_NEED_A_GRANT,
      extraYaml: ACCESS_YAML,
      masterKey: randomBytes(32),
      postgres: {},
      extraConnections: `  - name: prod-db
    type: postgres
    upstream: postgres://127.0.0.1:${server.port}/${server.database}?sslmode=disable
    credential: { type: basic, username: ${server.user}, value: "${server.password}" }
`,
    };
    a = await startTestGateway({ ...shared, approvals: { now: Date.now, timers: quiet } });
    b = await startTestGateway({ ...shared, demo: a.demo });
    [ada, bob] = await Promise.all([personWithToken(a.gateway.store, 'ada', ['engineering']), personWithToken(a.gateway.store, 'bob', ['oncall'])]);
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.end()));
    await b?.close();
    await a?.close();
    await server?.stop();
  });

  async function client(g: TestGateway, token: string): Promise<pg.Client> {
    const c = new pg.Client({ host: '127.0.0.1', port: g.pgPort, database: 'prod-db', user: 'agent', password: token });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }

  test('granted through one replica, the session on the other writes; revoked through the other, that session ends', async () => {
    const agent = await a.token({ user: 'ada', connections: ['prod-db'] });
    const asked = await b.api('POST', '/access/requests', { connection: 'prod-db', for: '1h', reason: 'replica check' }, ada.token);
    assert.equal(asked.status, 201, JSON.stringify(asked.json));
    assert.equal((await a.api('POST', `/approvals/${asked.json.id}/approve`, {}, bob.token)).status, 200);
    const grantId = (await b.api('GET', `/access/requests/${asked.json.id}`)).json.grant.id;

    const c = await client(a, agent);
    await c.query('insert into jit_incidents values (1)');
    let heard: any = null;
    c.on('error', (err) => (heard ??= err));
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    const revoked = await b.api('POST', `/access/grants/${grantId}/revoke`, { reason: 'from the other replica' }, bob.token);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
    await ended;
    assert.equal(heard?.code, '42501');
    assert.match(String(heard?.message), /revoked/);

    const next = await client(a, agent);
    await assert.rejects(next.query('insert into jit_incidents values (2)'), (err: any) => err.code === '42501');
  });
});
