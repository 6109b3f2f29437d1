/**
 * Pinning is on by default, and an admin can pin a connection's list directly
 * (POST /api/v1/connections/<name>/mcp/pins, what `gatehouse mcp pin` calls): the gateway reads the
 * tool server's list itself, pins exactly that, and records who did it. Before that, tools are
 * withheld fail-closed and the first list asks the connection's approvers. Hostile callers and
 * names are refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { personWithToken, type Person } from '../../support/people.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { connectClient, disconnect, textOf } from './fixtures.ts';
import { startPinToolServer, tool, type PinToolServer } from './pin-server.ts';

const ROLES = `
identity:
  roles:
    - group: security
      role: approver
    - group: audit
      role: auditor
    - group: engineering
      role: user
      connections: [fresh, tofu]
`;

const POLICY = `
policy:
  rules:
    - name: allow-all
      action: allow
`;

describe('MCP pins by default, and pinned directly by an admin', () => {
  let t: TestGateway;
  let fresh: PinToolServer;
  let tofu: PinToolServer;
  let auditor: Person;
  let approver: Person;
  let user: Person;
  let ada: string;

  before(async () => {
    fresh = await startPinToolServer([tool('echo', 'Returns its text'), tool('deploy', 'Deploys')]);
    tofu = await startPinToolServer([tool('echo', 'Returns its text'), tool('search', 'Searches')]);
    t = await startTestGateway({
      policyYaml: POLICY,
      extraYaml: ROLES,
      extraConnections: `
  - name: fresh
    type: mcp
    upstream: ${fresh.url}
  - name: tofu
    type: mcp
    upstream: ${tofu.url}
  - name: down
    type: mcp
    upstream: http://127.0.0.1:9/mcp
    credential: down-credential-0123456789abcdef
    mcp:
      callTimeout: 5s
  - name: agg
    type: mcp
    upstream: "aggregate:"
    mcp:
      aggregate: [fresh, tofu]
`,
    });
    auditor = await personWithToken(t.gateway.store, 'aude', ['audit']);
    approver = await personWithToken(t.gateway.store, 'bob', ['security']);
    user = await personWithToken(t.gateway.store, 'uma', ['engineering']);
    ada = await t.token({ user: 'ada', groups: ['engineering'], connections: ['fresh', 'tofu'] });
  });
  after(async () => {
    await t?.close();
    await fresh?.close();
    await tofu?.close();
  });

  const names = async (client: any) => (await client.listTools()).tools.map((x: { name: string }) => x.name).sort();
  const refusalOf = (result: unknown) => (result as { _meta?: Record<string, any> })._meta?.['gatehouse/error'];
  const pin = (connection: string, token?: string, body: unknown = {}) => t.api('POST', `/connections/${connection}/mcp/pins`, body, token);

  test('with no setting, a connection without pins withholds its tools and asks its approvers for the first list', async () => {
    const agent = await connectClient(t.url, 'fresh', ada);
    try {
      assert.deepEqual(await names(agent.client), [], 'nothing is listed before a pin');
      const { json } = await t.api('GET', '/approvals?status=pending&limit=500');
      const ask = (json.approvals as any[]).find((a) => a.kind === 'mcp.tool_pin' && a.connection === 'fresh');
      assert.ok(ask, 'the first list asks an approval');
      assert.deepEqual(ask.approvers, ['security']);
      assert.deepEqual(ask.summary.tools.map((x: any) => x.tool).sort(), ['deploy', 'echo'], 'showing the list');
      const refused = await agent.client.callTool({ name: 'echo', arguments: { text: 'x' } });
      assert.equal(refused.isError, true);
      assert.equal(refusalOf(refused).rule, 'mcp/pinned-tools');
      assert.match(textOf(refused), new RegExp(`gatehouse approvals approve ${ask.id}`));
      assert.match(textOf(refused), /gatehouse mcp pin fresh/, 'and names what an admin can do instead');
      assert.deepEqual(fresh.calls, [], 'the tool never ran');

      // The existing approvals service decides it: a member of the approver group pins the list shown.
      const approved = await t.api('POST', `/approvals/${ask.id}/approve`, {}, approver.token);
      assert.equal(approved.status, 200, JSON.stringify(approved.json));
      assert.deepEqual(await names(agent.client), ['deploy', 'echo']);
      assert.equal(textOf(await agent.client.callTool({ name: 'echo', arguments: { text: 'x' } })), 'ran echo');
      const pins = (await t.api('GET', '/connections/fresh/mcp/pins')).json.pins as any[];
      assert.deepEqual(pins.map((p) => [p.tool, p.approvalId, p.approvedBy, p.pinnedBy]), [['deploy', ask.id, ['bob'], null], ['echo', ask.id, ['bob'], null]]);
    } finally {
      await disconnect(agent);
    }
  });

  test('an admin pins the list as the server shows it: the tools are usable, the pins say who, the action is recorded', async () => {
    const before = await connectClient(t.url, 'tofu', ada);
    try {
      assert.deepEqual(await names(before.client), []);
      const { status, json } = await pin('tofu');
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(json.connection, 'tofu');
      assert.deepEqual(json.pinned.map((p: any) => p.tool).sort(), ['echo', 'search']);
      assert.ok(json.pinned.every((p: any) => /^[0-9a-f]{64}$/.test(p.hash)));
      assert.deepEqual(json.removed, []);

      // The live session that saw nothing uses the pins at its next list.
      assert.deepEqual(await names(before.client), ['echo', 'search']);
      assert.equal(textOf(await before.client.callTool({ name: 'echo', arguments: { text: 'x' } })), 'ran echo');

      const pins = await t.api('GET', '/connections/tofu/mcp/pins');
      assert.equal(pins.status, 200);
      assert.deepEqual(pins.json.pins.map((p: any) => [p.tool, p.approvalId]), [['echo', null], ['search', null]]);
      assert.ok(pins.json.pins.every((p: any) => /admin/.test(p.pinnedBy) && typeof p.pinnedAt === 'number'));
      assert.deepEqual(pins.json.pins.map((p: any) => p.hash), json.pinned.map((p: any) => p.hash).sort((a: string, b: string) => (json.pinned.find((x: any) => x.hash === a).tool < json.pinned.find((x: any) => x.hash === b).tool ? -1 : 1)));

      const audit = await t.api('GET', '/audit/events?action=pinMcpTools');
      const event = (audit.json.events as any[])[0];
      assert.equal(event.target, 'tofu');
      assert.equal(event.outcome, 200);
      assert.ok((event.details.pinned as string[]).some((line) => line.startsWith('echo ')), JSON.stringify(event.details));
    } finally {
      await disconnect(before);
    }
  });

  test('pinning again makes the pins exactly the current list: changed replaced, gone dropped, duplicates pinned for neither', async () => {
    const old = (await t.gateway.store.listToolPins('tofu')).find((p) => p.tool === 'echo')!;
    await tofu.setTools([tool('echo', 'Returns its text, loudly'), tool('dup', 'one'), tool('dup', 'two'), { description: 'no name' }], false);
    const { status, json } = await pin('tofu');
    assert.equal(status, 200);
    assert.deepEqual(json.pinned.map((p: any) => p.tool), ['echo']);
    assert.notEqual(json.pinned[0].hash, old.hash);
    assert.deepEqual(json.removed, ['search']);
    assert.deepEqual(json.duplicates, ['dup']);
    assert.equal(json.skipped, 3);
    assert.deepEqual((await t.gateway.store.listToolPins('tofu')).map((p) => p.tool), ['echo']);
    const agent = await connectClient(t.url, 'tofu', ada);
    try {
      assert.deepEqual(await names(agent.client), ['echo']);
      const refused = await agent.client.callTool({ name: 'dup', arguments: { text: 'x' } });
      assert.equal(refusalOf(refused).rule, 'mcp/pinned-tools');
    } finally {
      await disconnect(agent);
      await tofu.setTools([tool('echo', 'Returns its text'), tool('search', 'Searches')], false);
    }
  });

  test('an auditor reads the pins but cannot pin; a user, an agent token and no token can do neither', async () => {
    assert.equal((await t.api('GET', '/connections/tofu/mcp/pins', undefined, auditor.token)).status, 200);
    const refused = await pin('tofu', auditor.token);
    assert.equal(refused.status, 403);
    assert.equal((await t.api('GET', '/connections/tofu/mcp/pins', undefined, user.token)).status, 403);
    assert.equal((await pin('tofu', user.token)).status, 403);
    assert.equal((await pin('tofu', ada)).status, 401, 'an agent token is not an API token');
    const anonymous = await fetch(`${t.url}/api/v1/connections/tofu/mcp/pins`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(anonymous.status, 401);
    const denied = await t.api('GET', '/audit/events?action=pinMcpTools&limit=50');
    assert.ok((denied.json.events as any[]).some((e) => e.actorName === 'aude' && e.outcome === 403), 'the refused attempt is on record');
  });

  for (const [what, connection, status, code] of [
    ['a connection that is not MCP', 'openai', 404, 'not_found'],
    ['a connection that does not exist', 'nope', 404, 'not_found'],
    ['an aggregate (pins are per served connection)', 'agg', 400, 'bad_request'],
    ['an upper-case name', 'TOFU', 400, 'invalid_argument'],
    ['a name past 63 characters', 'x'.repeat(64), 400, 'invalid_argument'],
    ['an encoded path separator', 'tofu%2F..', 400, 'invalid_argument'],
    ['an encoded NUL', 'tofu%00', 400, 'invalid_argument'],
  ] as const) {
    test(`pinning ${what} is refused (${status})`, async () => {
      const reply = await pin(connection);
      assert.equal(reply.status, status, JSON.stringify(reply.json));
      assert.equal(reply.json.error.code, code);
    });
  }

  test('a body with fields is refused: nothing but the server\'s own list is ever pinned', async () => {
    const reply = await pin('tofu', undefined, { tools: [{ name: 'evil', description: 'x' }] });
    assert.equal(reply.status, 400);
    assert.ok(!(await t.gateway.store.listToolPins('tofu')).some((p) => p.tool === 'evil'));
  });

  test('a server that cannot be reached pins nothing, and its credential is in no answer or log', async () => {
    const reply = await pin('down');
    assert.equal(reply.status, 502, JSON.stringify(reply.json));
    assert.equal(reply.json.error.code, 'upstream_unreachable');
    assert.deepEqual(await t.gateway.store.listToolPins('down'), []);
    assert.ok(!JSON.stringify(reply.json).includes('down-credential'));
    assert.ok(!t.logs.some((line) => line.includes('down-credential')));
  });
});
