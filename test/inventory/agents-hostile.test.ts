/**
 * Hostile inputs to the agent inventory's API: odd and forged names and labels, unknown, duplicate
 * and foreign ids, wrong types, a revoke of what is revoked already, racing revokes, and users
 * reaching for what is not theirs. Each refusal is checked to have changed nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { agentRows } from '../../src/cli/agents-commands.ts';

describe('agent inventory: hostile inputs', () => {
  let gw: TestGateway;
  let aliceApi: string;
  let bobApi: string;
  let aliceAgent: string;
  let bobAgent: string;

  const as = (token: string) => (method: string, path: string, body?: unknown) => gw.api(method, path, body, token);
  const revokedTokens = async () => ((await gw.api('GET', '/tokens?all=true')).json.tokens as any[]).filter((t) => t.revokedAt !== null).length;

  before(async () => {
    gw = await startTestGateway({
      extraYaml: `identity:
  roles:
    - group: staff
      role: user
      connections: [openai]
`,
    });
    // API tokens for two ordinary users, issued as the break-glass admin would for a sign-in.
    const issue = async (user: string) => {
      const made = await gw.api('POST', '/tokens', { connections: ['openai'], ttl: '1h', agent: `${user}-bot`, for: { user, groups: ['staff'] } });
      assert.equal(made.status, 201, JSON.stringify(made.json));
      return made.json;
    };
    aliceAgent = (await issue('alice')).agentId;
    bobAgent = (await issue('bob')).agentId;
    aliceApi = await apiTokenFor(gw, 'alice');
    bobApi = await apiTokenFor(gw, 'bob');
  });

  after(async () => {
    await gw?.close();
  });

  const badCreate: Array<[string, unknown]> = [
    ['a newline in the name', { name: 'bot\nINJECTED 1 2 3' }],
    ['a right-to-left override', { name: 'bot\u202Etxt.exe' }],
    ['a zero-width joiner', { name: 'b\u200Dot' }],
    ['a NUL', { name: 'bot\u0000' }],
    ['only spaces', { name: '    ' }],
    ['201 characters', { name: 'x'.repeat(201) }],
    ['a name that is a number', { name: 42 }],
    ['an unknown field', { name: 'ok', owner: 'root' }],
    ['a label key with "="', { name: 'ok', labels: { 'a=b': 'c' } }],
    ['an upper-case label key', { name: 'ok', labels: { Env: 'prod' } }],
    ['a label value with a newline', { name: 'ok', labels: { env: 'prod\nrole: admin' } }],
    ['33 labels', { name: 'ok', labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }],
    ['a label value that is not text', { name: 'ok', labels: { env: { nested: true } } }],
    ['a purpose with an escape sequence', { name: 'ok', purpose: 'x\u001b[2J' }],
  ];
  for (const [what, body] of badCreate) {
    test(`creating an agent with ${what} is refused`, async () => {
      const before = (await gw.api('GET', '/agents')).json.agents.length;
      const reply = await gw.api('POST', '/agents', body);
      assert.equal(reply.status, 400, JSON.stringify(reply.json));
      assert.equal((await gw.api('GET', '/agents')).json.agents.length, before);
    });
  }

  test('a unicode name that is only letters is fine, and the table shows it on one line', async () => {
    const reply = await gw.api('POST', '/agents', { name: 'Ünïcødé-助手', labels: { 'team.ml/env': 'prød' } });
    assert.equal(reply.status, 201);
    assert.equal(agentRows([{ ...reply.json, name: 'a\nb' }]).split('\n').length, 2, 'a control character from the API never makes a second row');
  });

  test('a duplicate name of one owner is a conflict', async () => {
    assert.equal((await gw.api('POST', '/agents', { name: 'twice' })).status, 201);
    assert.equal((await gw.api('POST', '/agents', { name: 'twice' })).status, 409);
  });

  test('revoking an unknown id changes nothing', async () => {
    const before = await revokedTokens();
    const reply = await gw.api('POST', '/agents/revoke', { ids: [aliceAgent, 'agt_nope'], dryRun: false });
    assert.equal(reply.status, 404);
    assert.equal(await revokedTokens(), before, 'the known id was not revoked either');
  });

  for (const [what, body, status] of [
    ['ids as a string', () => ({ ids: 'agt_x' }), 400],
    ['dryRun as the text "false"', () => ({ ids: [bobAgent], dryRun: 'false' }), 400],
    ['1001 ids', () => ({ ids: Array.from({ length: 1001 }, (_, i) => `agt_${i}`) }), 400],
    ['nothing named', () => ({}), 400],
    ['an unknown field', () => ({ ids: [bobAgent], force: true }), 400],
    ['an SQL-shaped id', () => ({ ids: ["' OR 1=1 --"] }), 404],
  ] as const) {
    test(`revoke with ${what} is refused (${status})`, async () => {
      const before = await revokedTokens();
      assert.equal((await gw.api('POST', '/agents/revoke', body())).status, status);
      assert.equal(await revokedTokens(), before);
    });
  }

  test('odd ids and filters on the listing', async () => {
    assert.equal((await gw.api('GET', `/agents/${encodeURIComponent("' OR 1=1 --")}`)).status, 404);
    assert.equal((await gw.api('GET', '/agents/%00')).status, 404);
    assert.equal((await gw.api('GET', '/agents?state=deleted')).status, 400);
    assert.equal((await gw.api('GET', '/agents?owner=alice&owner=bob')).status, 400);
  });

  test('duplicate ids are revoked once', async () => {
    const made = await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'dup-bot' });
    const reply = await gw.api('POST', '/agents/revoke', { ids: [made.json.agentId, made.json.agentId], dryRun: false });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.agents.length, 1);
    assert.deepEqual(reply.json.agents[0].revoked, [made.json.id]);
  });

  test('revoking a revoked agent again is said, not an error, and revokes nothing more', async () => {
    const made = await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'again-bot' });
    await gw.api('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false });
    const again = await gw.api('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false });
    assert.equal(again.status, 200);
    assert.equal(again.json.agents[0].alreadyRevoked, true);
    assert.deepEqual(again.json.agents[0].revoked, []);
    const events = await gw.gateway.store.listAuditEvents({ limit: 50, action: 'agent.revoked', target: made.json.agentId });
    assert.equal(events.length, 2, 'both calls are on record');
  });

  test('two revokes racing: one revokes, the other finds it done; the token is revoked once', async () => {
    const made = await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'race-bot' });
    const [a, b] = await Promise.all([
      gw.api('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false }),
      gw.api('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false }),
    ]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const firsts = [a, b].map((r) => r.json.agents[0].alreadyRevoked).sort();
    assert.deepEqual(firsts, [false, true]);
    assert.deepEqual([...a.json.agents[0].revoked, ...b.json.agents[0].revoked], [made.json.id]);
  });

  test('--stale with nothing stale revokes nothing', async () => {
    const reply = await gw.api('POST', '/agents/revoke', { stale: true, dryRun: false });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json.agents, []);
  });

  test("a user cannot revoke another owner's agent, nor list it, nor ask for every stale one", async () => {
    const before = await revokedTokens();
    assert.equal((await as(aliceApi)('POST', '/agents/revoke', { ids: [bobAgent], dryRun: false })).status, 403);
    assert.equal((await as(aliceApi)('POST', '/agents/revoke', { ids: [bobAgent] })).status, 403, 'not even a dry run');
    assert.equal((await as(aliceApi)('POST', '/agents/revoke', { stale: true })).status, 403);
    assert.equal(await revokedTokens(), before);
    const listed = (await as(aliceApi)('GET', '/agents')).json.agents as any[];
    assert.deepEqual(listed.map((a) => a.owner), listed.map(() => 'alice'));
    assert.ok(listed.some((a) => a.id === aliceAgent));
    assert.equal((await as(aliceApi)('GET', `/agents/${bobAgent}`)).status, 403);
    assert.equal((await as(aliceApi)('GET', '/agents/findings')).status, 403);
  });

  test("a user cannot put a token on another owner's agent, nor make a team agent of a team they are not in", async () => {
    const reply = await as(aliceApi)('POST', '/tokens', { connections: ['openai'], agent: bobAgent });
    assert.equal(reply.status, 403);
    assert.equal((await as(aliceApi)('POST', '/agents', { name: 'x', team: 'admins' })).status, 403);
    assert.equal((await as(aliceApi)('POST', '/agents', { name: 'staff-bot', team: 'staff' })).status, 201);
  });

  test('a revoked agent gets no new token, by id or by name', async () => {
    const made = await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'retired-bot' });
    await gw.api('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false });
    assert.equal((await gw.api('POST', '/tokens', { connections: ['openai'], agent: made.json.agentId })).status, 409);
    assert.equal((await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'retired-bot' })).status, 409);
    assert.equal((await gw.api('POST', '/tokens', { connections: ['openai'], agent: 'bot\u202E' })).status, 400);
  });

  test('a user revokes their own agent, and its token is refused on the data plane', async () => {
    const made = await as(aliceApi)('POST', '/tokens', { connections: ['openai'], agent: 'mine-bot' });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const cut = await as(aliceApi)('POST', '/agents/revoke', { ids: [made.json.agentId], dryRun: false });
    assert.equal(cut.status, 200);
    const status = (await fetch(`${gw.url}/proxy/openai/v1/models`, { headers: { authorization: `Bearer ${made.json.token}` } })).status;
    assert.equal(status, 401);
  });
});

/** An API token (gta_) for a user, as a sign-in would give one. */
async function apiTokenFor(gw: TestGateway, user: string): Promise<string> {
  const { toPrincipal } = await import('../../src/identity/credentials.ts');
  const { Credentials } = await import('../../src/identity/credentials.ts');
  const store = gw.gateway.store;
  const row = await store.findPrincipal('user', user);
  const credentials = new Credentials(store, { defaultTtlMs: 3_600_000, maxTtlMs: 3_600_000, cacheTtlMs: 1_000, maxTtlForGroups: () => null });
  const { secret } = await credentials.issue({ principal: toPrincipal(row!), kind: 'admin', name: `${user} sign-in`, connections: null, ttlMs: 3_600_000 });
  return secret;
}
