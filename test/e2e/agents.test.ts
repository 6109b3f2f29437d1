/**
 * The agent inventory end to end. Agents get their usage from real traffic through the gateway
 * (the openai SDK over HTTP, the pg driver through the Postgres listener to a real PostgreSQL,
 * from three loopback addresses); findings are judged at a clock the test moves, while traffic
 * keeps real time. Each finding appears for its reason and only then; near misses stay quiet.
 * Then a stricter config (a restart on the same store) makes lifetimes and an old service account
 * findings, and `revoke --stale` (dry run, then --yes) cuts a live pg session and records it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Socket } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { ADMIN_TOKEN, startTestGateway, UPSTREAM_KEY, type TestGateway, type TestGatewayOptions } from '../support/gateway.ts';
import { startPostgres, type PostgresServer } from '../support/postgres-server.ts';
import { pollUntil } from '../support/poll.ts';
import { Command } from 'commander';
import { agentsCommands } from '../../src/cli/agents-commands.ts';

/** The `gatehouse` program with its agents commands (main.ts runs itself when imported). */
function buildProgram(print: (text: string) => void): Command {
  const program = new Command('gatehouse').option('--json').exitOverride();
  for (const c of agentsCommands(print)) program.addCommand(c);
  return program;
}

const DB = 'prod-db';
const DAY = 86_400_000;

const POLICY = `
policy:
  rules:
    - name: no-blocked-bot
      action: deny
      when: agent.name == "blocked-bot"
    - name: no-prod-label
      action: deny
      when: has(agent.labels.env) && agent.labels.env == "prod"
    - name: ml-team
      action: allow
      match: { groups: [ml] }
      limits: { concurrentSessionsPerIdentity: 10 }
    - name: allow-all
      action: allow
`;

/** A pg client connecting from `localAddress` (any 127/8 address is this machine). */
function pgFrom(gateway: TestGateway, password: string, localAddress: string) {
  const stream = () => {
    const socket = new Socket();
    const connect = socket.connect.bind(socket) as (options: object) => Socket;
    (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) => connect({ port, host, localAddress });
    return socket;
  };
  const client = new pg.Client({ host: '127.0.0.1', port: gateway.pgPort, database: DB, user: 'agent', password, stream: stream as never });
  const failed = new Promise<Error>((resolve) => client.on('error', resolve));
  return { client, failed };
}

interface Hook {
  server: Server;
  url: string;
  received: { headers: IncomingMessage['headers']; body: string }[];
}

async function startHook(): Promise<Hook> {
  const received: Hook['received'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, received };
}

describe('agent inventory through real traffic', () => {
  let db: PostgresServer;
  let demo: DemoModel;
  let hook: Hook;
  let gw: TestGateway;
  let options: TestGatewayOptions;
  let clock = Date.now();
  const t0 = clock;
  let tick: (() => void) | undefined;
  const secret = randomBytes(16).toString('hex');
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const pgClients: ReturnType<typeof pgFrom>[] = [];

  const findings = async () => (await gw.api('GET', '/agents/findings')).json.findings as { kind: string; agent: string; agentId: string; reason: string; fix: string }[];
  const kindsOf = (all: { kind: string; agent: string }[], agent: string) => all.filter((f) => f.agent === agent).map((f) => f.kind).sort();
  const at = (ms: number) => {
    clock = ms;
  };

  const issue = async (key: string, body: Record<string, unknown>) => {
    const reply = await gw.api('POST', '/tokens', { ttl: '90d', ...body });
    assert.equal(reply.status, 201, JSON.stringify(reply.json));
    tokens[key] = reply.json.token;
    ids[key] = reply.json.agentId;
    return reply.json;
  };

  before(async () => {
    db = await startPostgres();
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    hook = await startHook();
    options = {
      dir: await mkdtemp(join(tmpdir(), 'gatehouse-agents-')),
      demo,
      masterKey: randomBytes(32),
      postgres: { allowCleartextOverNetwork: true },
      policyYaml: POLICY,
      extraConnections: `  - name: ${DB}
    type: postgres
    upstream: postgres://127.0.0.1:${db.port}/${db.database}?sslmode=disable
    credential: { type: basic, username: ${db.user}, value: "${db.password}" }
`,
      extraYaml: `identity:
  tokens: { maxTtl: 400d }
  serviceAccounts: { maxExpiry: 365d }
inventory:
  staleAfter: 30d
  scopeGrace: 7d
  manyAddresses: 3
  report:
    every: 1h
    webhook: { url: ${hook.url}, secret: ${secret} }
`,
      inventory: {
        now: () => clock,
        timers: { setInterval: (fn: () => void) => ((tick = fn), 1), clearInterval: () => undefined },
      },
    };
    gw = await startTestGateway(options);
  });

  after(async () => {
    for (const c of pgClients) await c.client.end().catch(() => undefined);
    await gw?.close();
    await demo?.close();
    await new Promise((resolve) => hook?.server.close(resolve));
    await db?.stop();
    if (options?.dir) await rm(options.dir, { recursive: true, force: true });
  });

  test('seeded by traffic: listing shows usage, owners and live sessions', async () => {
    await issue('idle', { connections: ['openai'], agent: 'idle-bot', for: { user: 'alice', groups: ['ml'] } });
    await issue('chat', { connections: ['openai', 'other', DB], agent: 'chat-bot', for: { user: 'alice', groups: ['ml'] } });
    await issue('allused', { connections: ['openai'], agent: 'all-used-bot', for: { user: 'alice', groups: ['ml'] } });
    await issue('sql', { connections: [DB], agent: 'sql-bot', for: { user: 'alice', groups: ['ml'] } });
    await issue('short', { connections: ['openai'], agent: 'short-bot', ttl: '20d', for: { user: 'alice', groups: ['ml'] } });
    await issue('carol', { connections: ['openai'], agent: 'carol-bot', for: { user: 'carol', groups: [] } });
    const ghost = await gw.api('POST', '/agents', { name: 'ghost-agent', team: 'ghost-team', purpose: 'nobody runs this' });
    assert.equal(ghost.status, 201, JSON.stringify(ghost.json));
    const team = await gw.api('POST', '/agents', { name: 'ml-agent', team: 'ml', labels: { env: 'dev' } });
    assert.equal(team.status, 201);
    await issue('ghost', { connections: ['openai'], agent: ghost.json.id, for: { user: 'dave', groups: ['ml'] } });
    await issue('team', { connections: ['openai'], agent: team.json.id, for: { user: 'dave', groups: ['ml'] } });
    for (const [name, expires] of [['etl', '300d'], ['etl-short', '60d']] as const) {
      const account = await gw.api('POST', '/service-accounts', { name, owner: 'alice', connections: ['openai'], expires });
      assert.equal(account.status, 201, JSON.stringify(account.json));
    }

    // Traffic: the SDK on one of chat-bot's three connections, and on all-used-bot's only one.
    for (const key of ['chat', 'chat', 'allused']) {
      const openai = new OpenAI({ baseURL: `${gw.url}/proxy/openai/v1`, apiKey: tokens[key]!, maxRetries: 0 });
      const reply = await openai.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] });
      assert.ok(reply.choices.length > 0);
    }
    for (const address of ['127.0.0.1', '127.0.0.2']) {
      const c = pgFrom(gw, tokens.sql!, address);
      await c.client.connect();
      await c.client.query('select 1');
      pgClients.push(c);
    }

    const { json } = await gw.api('GET', '/agents');
    const byName = new Map((json.agents as any[]).map((a) => [a.name, a]));
    const chat = byName.get('chat-bot');
    assert.equal(chat.owner, 'alice');
    assert.deepEqual(chat.connections, ['openai', 'other', DB].sort());
    assert.equal(chat.requests24h, 2);
    assert.equal(chat.requests30d, 2);
    assert.equal(chat.liveSessions, 1);
    assert.equal(chat.lastClientAddr, '127.0.0.1');
    assert.match(chat.lastUserAgent, /^OpenAI\/JS/);
    assert.deepEqual(chat.authenticates, ['token']);
    const sql = byName.get('sql-bot');
    assert.equal(sql.liveSessions, 2);
    assert.equal(sql.requests30d, 2);
    assert.equal(byName.get('idle-bot').lastUsedAt, null);
    assert.equal(byName.get('idle-bot').requests30d, 0);
    assert.deepEqual(byName.get('etl').authenticates, ['service-account']);
    assert.equal(byName.get('ghost-agent').owner, 'ghost-team');

    // Per owner: alice's live sessions (two HTTP, two pg) against the ml rule's limit.
    const owners = (await gw.api('GET', '/agents/owners')).json.owners as any[];
    assert.deepEqual(owners.find((o) => o.owner === 'alice'), { owner: 'alice', agents: 7, liveSessions: 4, limit: 10 });
    assert.equal(owners.find((o) => o.owner === 'carol').limit, null);

    // Filters.
    assert.deepEqual(((await gw.api('GET', `/agents?connection=${DB}`)).json.agents as any[]).map((a) => a.name).sort(), ['chat-bot', 'sql-bot']);
    assert.deepEqual(((await gw.api('GET', '/agents?owner=dave')).json.agents as any[]).length, 0, 'team agents belong to the team');
    assert.deepEqual(((await gw.api('GET', '/agents?owner=ml')).json.agents as any[]).map((a) => a.name), ['ml-agent']);
  });

  test('policy reads agent.name and agent.labels', async () => {
    await issue('blocked', { connections: ['openai'], agent: 'blocked-bot' });
    const prod = await gw.api('POST', '/agents', { name: 'prod-agent', labels: { env: 'prod' } });
    const tricky = await gw.api('POST', '/agents', { name: 'tricky-agent', labels: { env: '"dev" || true' } });
    await issue('prod', { connections: ['openai'], agent: prod.json.id });
    await issue('tricky', { connections: ['openai'], agent: tricky.json.id });
    const status = async (key: string) =>
      (await fetch(`${gw.url}/proxy/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[key]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'x' }] }),
      })).status;
    assert.equal(await status('blocked'), 403);
    assert.equal(await status('prod'), 403);
    assert.equal(await status('tricky'), 200, 'a label is data, never evaluated');
    assert.equal(await status('allused'), 200);
    // Sessions carry the agent.
    const sessions = await gw.gateway.store.listSessions({ limit: 50 });
    const blocked = sessions.find((s) => s.tokenId !== null && s.agentId === ids.blocked);
    assert.ok(blocked, 'the refused request is recorded on a session of its agent');
  });

  test('findings now: owners only; scope waits for its grace; a third address is many', async () => {
    at(t0);
    let all = await findings();
    assert.deepEqual(kindsOf(all, 'ghost-agent'), ['owner_unknown']);
    assert.deepEqual(kindsOf(all, 'ml-agent'), [], 'a team with an enabled member is known');
    assert.deepEqual(kindsOf(all, 'sql-bot'), [], 'two addresses are not many');
    assert.deepEqual(kindsOf(all, 'chat-bot'), []);

    const carol = await gw.gateway.store.findPrincipal('user', 'carol');
    await gw.gateway.store.disablePrincipal(carol!.id, Date.now());
    all = await findings();
    assert.deepEqual(kindsOf(all, 'carol-bot'), ['owner_disabled']);
    assert.match(all.find((f) => f.agent === 'carol-bot')!.fix, /^gatehouse agents revoke agt_\S+ --yes$/);

    const third = pgFrom(gw, tokens.sql!, '127.0.0.3');
    await third.client.connect();
    pgClients.push(third);
    all = await findings();
    assert.deepEqual(kindsOf(all, 'sql-bot'), ['many_addresses']);
    assert.match(all.find((f) => f.agent === 'sql-bot')!.reason, /3 client addresses at once \(127\.0\.0\.1, 127\.0\.0\.2, 127\.0\.0\.3\)/);

    at(t0 + 6 * DAY);
    assert.deepEqual(kindsOf(await findings(), 'chat-bot'), [], 'six days old: scope not judged yet');
    at(t0 + 8 * DAY);
    all = await findings();
    assert.deepEqual(kindsOf(all, 'chat-bot'), ['scope_wider_than_used']);
    assert.match(all.find((f) => f.agent === 'chat-bot')!.reason, /may reach 3 connection\(s\) .* but used 1 in the last 30 days \(openai\)/);
    assert.deepEqual(kindsOf(all, 'all-used-bot'), [], 'used every connection it may reach');

    at(t0 + 29 * DAY);
    assert.deepEqual((await findings()).filter((f) => f.kind === 'unused'), [], '29 days: nothing is stale yet');
    at(t0 + 31 * DAY);
    all = await findings();
    assert.ok(kindsOf(all, 'idle-bot').includes('unused'));
    assert.match(all.find((f) => f.agent === 'idle-bot' && f.kind === 'unused')!.reason, /never used in the 30 days/);
    assert.match(all.find((f) => f.agent === 'chat-bot' && f.kind === 'unused')!.reason, /not used for 30 days/);
    assert.deepEqual(kindsOf(all, 'short-bot'), [], 'its token expired at 20 days: nothing left to judge');
    at(t0);
  });

  test('the scheduled report: new findings go to the audit trail and the signed webhook, once', async () => {
    at(t0);
    assert.ok(tick, 'the report timer was scheduled');
    tick!();
    await pollUntil(async () => (await gw.gateway.store.listAuditEvents({ limit: 10, action: 'agents.report' })).length === 1, 'the report event');
    await pollUntil(() => hook.received.length === 1, 'the webhook post');
    const event = (await gw.gateway.store.listAuditEvents({ limit: 10, action: 'agents.report' }))[0]!;
    const kinds = (event.details.new as { kind: string; agent: string }[]).map((f) => `${f.agent}:${f.kind}`).sort();
    assert.deepEqual(kinds, ['carol-bot:owner_disabled', 'ghost-agent:owner_unknown', 'sql-bot:many_addresses']);
    const { headers, body } = hook.received[0]!;
    const expected = `sha256=${createHmac('sha256', secret).update(`${headers['x-gatehouse-timestamp']}.${body}`).digest('hex')}`;
    assert.equal(headers['x-gatehouse-signature'], expected);
    assert.equal(JSON.parse(body).type, 'agents.report');

    // The same period again reports nothing; a new period with no new findings writes nothing.
    tick!();
    const forced = await gw.api('POST', '/agents/report');
    assert.deepEqual(forced.json.new, []);
    assert.equal((await gw.gateway.store.listAuditEvents({ limit: 10, action: 'agents.report' })).length, 1);
  });

  test('a stricter config: lifetimes and an old service account, near misses quiet', async () => {
    for (const c of pgClients.splice(0)) await c.client.end().catch(() => undefined);
    at(t0 + DAY);
    await gw.close();
    gw = await startTestGateway({
      ...options,
      extraYaml: options.extraYaml!.replace('maxExpiry: 365d', 'maxExpiry: 90d'),
      policyYaml: POLICY.replace('policy:\n', 'policy:\n  tokenLifetime: { default: 30d }\n'),
    });
    const all = await findings();
    assert.deepEqual(kindsOf(all, 'chat-bot'), ['lifetime_exceeds_policy']);
    assert.match(all.find((f) => f.agent === 'chat-bot')!.reason, /lives 90 days, longer than the 30 days policy allows now/);
    assert.deepEqual(kindsOf(all, 'short-bot'), [], 'twenty days is within thirty');
    assert.deepEqual(kindsOf(all, 'etl'), ['account_predates_policy']);
    assert.deepEqual(kindsOf(all, 'etl-short'), [], 'sixty days is within the new ninety');
  });

  test('revoke --stale: the dry run changes nothing; --yes cuts a live pg session and records it', async () => {
    at(t0 + DAY);
    const live = pgFrom(gw, tokens.sql!, '127.0.0.1');
    await live.client.connect();
    pgClients.push(live);
    at(t0 + 31 * DAY);
    const before = JSON.stringify((await gw.api('GET', '/tokens?all=true')).json);

    const print: string[] = [];
    process.env.GATEHOUSE_URL = gw.url;
    process.env.GATEHOUSE_TOKEN = ADMIN_TOKEN;
    await buildProgram((text) => print.push(text)).parseAsync(['node', 'gatehouse', 'agents', 'revoke', '--stale']);
    assert.match(print.join('\n'), /would revoke agt_\S+ sql-bot \(owner alice\): 1 token\(s\), 0 service account\(s\), 1 live session\(s\)/);
    assert.match(print.join('\n'), /dry run: nothing changed; add --yes to revoke/);
    assert.equal(JSON.stringify((await gw.api('GET', '/tokens?all=true')).json), before, 'the dry run revoked nothing');
    assert.deepEqual((await live.client.query('select 2 as n')).rows, [{ n: 2 }], 'the session still runs');

    print.length = 0;
    await buildProgram((text) => print.push(text)).parseAsync(['node', 'gatehouse', 'agents', 'list', '--state', 'stale']);
    assert.match(print.join('\n'), /sql-bot\s+alice\s+stale/);

    const failed = live.failed;
    const cut = await gw.api('POST', '/agents/revoke', { stale: true, dryRun: false });
    assert.equal(cut.status, 200, JSON.stringify(cut.json));
    const sql = (cut.json.agents as any[]).find((a) => a.agent === 'sql-bot');
    assert.ok(sql.revoked.length >= 1);
    const err = await failed;
    assert.ok(err, 'the live PostgreSQL session was ended');
    const retry = pgFrom(gw, tokens.sql!, '127.0.0.1');
    await assert.rejects(retry.client.connect(), /revoked/);
    const events = await gw.gateway.store.listAuditEvents({ limit: 100, action: 'agent.revoked' });
    assert.ok(events.some((e) => e.target === ids.sql && (e.details.revoked as string[]).length >= 1), 'the revocation is an audit event');
    assert.equal(((await gw.api('GET', `/agents/${ids.sql}`)).json).state, 'revoked');
    // A revoked agent gets no new credentials.
    const again = await gw.api('POST', '/tokens', { connections: [DB], agent: ids.sql });
    assert.equal(again.status, 409);
    delete process.env.GATEHOUSE_URL;
    delete process.env.GATEHOUSE_TOKEN;
  });
});
