/**
 * Offboarding end to end: a person with a Postgres session (the pg driver, through the gateway's
 * Postgres listener, to a real PostgreSQL) and an SSE stream in flight (the official openai SDK,
 * stream: true, held open by the demo model until the test releases it) is deactivated over SCIM
 * as Entra ID sends it (`"op": "Replace", "path": "active", "value": "False"`). Both end with an
 * error, every credential she and her service account held is refused, and the SCIM answer and the
 * audit record name what was cut. Two replicas share one PostgreSQL store: the deactivation sent
 * to one replica ends what the person runs on the other.
 *
 * Everything is awaited as an event (the client's error, the stream's failure); nothing is timed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import pg from 'pg';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { startTestGateway, UPSTREAM_KEY, type TestGateway } from '../support/gateway.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { pollUntil } from '../support/poll.ts';
import { CUT, entra, scimRequest } from '../api/scim-fixtures.ts';

const DB = 'prod-db';

interface Person {
  readonly name: string;
  readonly scimId: string;
  readonly sqlToken: { id: string; token: string };
  readonly llmToken: { id: string; token: string };
  readonly accountSecret: string;
  readonly exchanged: { id: string; token: string };
}

/** A pg client whose FATAL (or end) is captured as it happens. */
function watchedClient(gateway: TestGateway, password: string) {
  const client = new pg.Client({ host: '127.0.0.1', port: gateway.pgPort, database: DB, user: 'agent', password });
  // The first error is the one to check; a client may report the closed socket after it.
  const failed = new Promise<any>((resolve) => client.on('error', resolve));
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  return { client, failed, ended };
}

async function connectError(gateway: TestGateway, password: string): Promise<any> {
  const client = new pg.Client({ host: '127.0.0.1', port: gateway.pgPort, database: DB, user: 'agent', password });
  client.on('error', () => undefined);
  return client.connect().then(
    async () => {
      await client.end();
      throw new Error('connected with a revoked token');
    },
    (err) => err,
  );
}

async function chatStatus(gateway: TestGateway, token: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`${gateway.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'still there?' }] }),
  });
  return { status: response.status, code: ((await response.json()) as any).error?.code };
}

describe('offboarding over SCIM ends what the person runs, on every replica', () => {
  let db: PostgresServer;
  let demo: DemoModel;
  let a: TestGateway;
  let b: TestGateway;
  let scimToken: string;

  before(async () => {
    db = await startPostgres();
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    // Two replicas of one deployment: one store (PostgreSQL), one master key, the same connections.
    // The upstream timeout is long, so only the revocation can end a held stream.
    const shared = {
      databaseUrl: db.url,
      demo,
      masterKey: randomBytes(32),
      upstreamTimeout: '10m',
      postgres: {},
      extraConnections: `  - name: ${DB}
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
`,
      extraYaml: 'identity:\n  serviceAccounts: { maxExpiry: 30d }\n',
    };
    a = await startTestGateway(shared);
    b = await startTestGateway(shared);
    scimToken = (await a.api('POST', '/scim/tokens', { name: 'entra' })).json.token;
  });

  after(async () => {
    demo?.releaseHeld();
    await a?.close();
    await b?.close();
    await demo?.close();
    await db?.stop();
  });

  /** Provisioned over SCIM, with a token per connection, a service account and a token exchanged from it. */
  async function provision(name: string): Promise<Person> {
    const created = await scimRequest(a.url, 'POST', '/Users', entra.createUser(name, `ext-${name}`), { auth: scimToken });
    assert.equal(created.status, 201);
    const issue = async (connections: string[]) => {
      const reply = await a.api('POST', '/tokens', { connections, for: { user: name, groups: [] } });
      return { id: reply.json.id as string, token: reply.json.token as string };
    };
    const account = await a.api('POST', '/service-accounts', { name: `${name.split('@')[0]}-etl`, owner: name, connections: ['openai'], expires: '7d' });
    const exchanged = await (await fetch(`${a.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${account.json.secret}`, 'content-type': 'application/json' }, body: '{}' })).json() as any;
    return { name, scimId: created.json.id, sqlToken: await issue([DB]), llmToken: await issue(['openai']), accountSecret: account.json.secret, exchanged: { id: exchanged.id, token: exchanged.token } };
  }

  /** Opens her Postgres session and an SSE stream on `where`; resolves once both are live. */
  async function goLive(person: Person, where: TestGateway) {
    const session = watchedClient(where, person.sqlToken.token);
    await session.client.connect();
    assert.deepEqual((await session.client.query('select current_user = $1 as ok', [db.user])).rows, [{ ok: true }]);
    // A second connection with a statement in flight when the cut comes.
    const busy = watchedClient(where, person.sqlToken.token);
    await busy.client.connect();
    const statement = busy.client.query('select pg_sleep(600)').then(
      () => null,
      (err) => err,
    );
    const openai = new OpenAI({ baseURL: `${where.url}/proxy/openai/v1`, apiKey: person.llmToken.token, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'demo-hold', stream: true, messages: [{ role: 'user', content: 'a long task' }] });
    const chunks = stream[Symbol.asyncIterator]();
    const first = await chunks.next();
    assert.equal(first.done, false, 'the stream is under way');
    // Reads until the stream fails; a clean end would be a stream the cut did not reach.
    const streamEnd = (async () => {
      for (;;) {
        const next = await chunks.next();
        if (next.done) return new Error('the stream ended cleanly');
      }
    })().then(
      (clean) => ({ clean }),
      (err: unknown) => ({ err }),
    );
    return { session, busy, statement, streamEnd };
  }

  async function deactivate(person: Person, via: TestGateway) {
    const reply = await scimRequest(via.url, 'PATCH', `/Users/${person.scimId}`, entra.disable, { auth: scimToken });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.active, false);
    return reply.json[CUT] as { revokedTokens: string[]; disabledServiceAccounts: string[] };
  }

  async function assertCut(person: Person, live: Awaited<ReturnType<typeof goLive>>, cut: { revokedTokens: string[]; disabledServiceAccounts: string[] }, where: TestGateway) {
    const fatal = await live.session.failed;
    assert.equal(fatal.severity, 'FATAL');
    assert.equal(fatal.code, '28P01');
    assert.match(fatal.message, /revoked/);
    await live.session.ended;
    const statementError = await live.statement;
    assert.ok(statementError, 'the statement in flight failed');
    assert.match(String(statementError.message), /revoked|terminated|Connection/i);

    const streamEnd = await live.streamEnd;
    assert.ok('err' in streamEnd, 'the SSE stream ended with an error, not cleanly');

    for (const id of [person.sqlToken.id, person.llmToken.id, person.exchanged.id]) assert.ok(cut.revokedTokens.includes(id), id);
    assert.equal(cut.revokedTokens.length, 4, 'her two tokens, the account secret and the token exchanged from it');
    assert.deepEqual(cut.disabledServiceAccounts, [`${person.name.split('@')[0]}-etl`]);

    for (const gateway of [a, b]) {
      assert.deepEqual(await chatStatus(gateway, person.llmToken.token), { status: 401, code: 'auth_revoked' });
      assert.deepEqual(await chatStatus(gateway, person.exchanged.token), { status: 401, code: 'auth_revoked' }, "her service account's token is refused");
      const refused = await connectError(gateway, person.sqlToken.token);
      assert.equal(refused.code, '28P01');
    }
    const exchange = await fetch(`${where.url}/api/v1/token/exchange`, { method: 'POST', headers: { authorization: `Bearer ${person.accountSecret}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(exchange.status, 401, "her service account's secret buys nothing more");

    const events = (await a.api('GET', '/audit/events?action=scimPatchUser&limit=100')).json.events as any[];
    const recorded = events.find((e) => e.target === person.name && Array.isArray(e.details.revokedTokens) && e.details.revokedTokens.length > 0);
    assert.ok(recorded, 'the deactivation is an admin action on record');
    assert.deepEqual([...recorded.details.revokedTokens].sort(), [...cut.revokedTokens].sort());
    assert.deepEqual(recorded.details.disabledServiceAccounts, cut.disabledServiceAccounts);

    // The sessions' records are closed just after the cut (the recorder writes behind the client): a bounded look.
    await pollUntil(async () => {
      const sessions = (await a.api('GET', `/sessions?principal=${encodeURIComponent(person.name)}&limit=100`)).json.sessions as any[];
      return sessions.length >= 3 && sessions.every((s) => s.endedAt !== null && /revoked/.test(s.endReason ?? ''));
    }, `${person.name}'s sessions recorded as ended by the revocation`);
  }

  test('on the replica that received the SCIM request: the Postgres session, a statement in flight and the SSE stream end', async () => {
    const alice = await provision('alice@contoso.com');
    const live = await goLive(alice, a);
    const cut = await deactivate(alice, a);
    await assertCut(alice, live, cut, a);
  });

  test('on another replica: the event every replica hears ends her sessions there too', async () => {
    const bob = await provision('bob@contoso.com');
    const live = await goLive(bob, b);
    const cut = await deactivate(bob, a);
    await assertCut(bob, live, cut, b);
  });
});
