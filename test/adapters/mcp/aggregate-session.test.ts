/**
 * An aggregate session is a recorded pipeline session of its own: its initialize is decided by the
 * aggregate's rules and recorded, it counts toward concurrent-session limits, and revoking the
 * token ends it even before it opened any session on a served connection. And an MCP session id
 * this replica does not hold (it lives on another replica, or ended) is the spec's 404, so the
 * client initializes again, on /mcp/<connection> and on an aggregate alike.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { pollUntil } from '../../support/poll.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { connectClient, disconnect, pinTools, textOf } from './fixtures.ts';
import { startPinToolServer, tool, type PinToolServer } from './pin-server.ts';

const ROLES = `
identity:
  roles:
    - group: engineering
      role: user
      connections: [solo, member, closed]
`;

const POLICY = `
policy:
  rules:
    - name: one-aggregate-each
      match: { connections: [solo] }
      action: allow
      limits: { concurrentSessionsPerIdentity: 1 }
    - name: closed-aggregate
      match: { connections: [closed] }
      when: "request.mcp.method == 'initialize'"
      action: deny
      reason: this aggregate is closed
    - name: allow-the-rest
      action: allow
`;

describe('an aggregate session is a pipeline session', () => {
  let t: TestGateway;
  let server: PinToolServer;

  before(async () => {
    server = await startPinToolServer([tool('echo', 'Returns its text')]);
    t = await startTestGateway({
      policyYaml: POLICY,
      extraYaml: ROLES,
      extraConnections: `
  - name: member
    type: mcp
    upstream: ${server.url}
  - name: solo
    type: mcp
    upstream: "aggregate:"
    mcp:
      aggregate: [member]
  - name: closed
    type: mcp
    upstream: "aggregate:"
    mcp:
      aggregate: [member]
`,
    });
    await pinTools(t, 'member');
  });
  after(async () => {
    await t?.close();
    await server?.close();
  });

  const sessionsOf = async (connection: string, principal: string) => (await t.api('GET', `/sessions?connection=${connection}&principal=${principal}&limit=100`)).json.sessions as any[];

  test('its initialize is recorded on the aggregate, decided by the aggregate\'s rules', async () => {
    const token = await t.token({ user: 'rec', groups: ['engineering'], connections: ['solo', 'member'] });
    const agent = await connectClient(t.url, 'solo', token);
    try {
      assert.equal(textOf(await agent.client.callTool({ name: 'member__echo', arguments: { text: 'x' } })), 'ran echo');
    } finally {
      await disconnect(agent);
    }
    const [session] = await sessionsOf('solo', 'rec');
    assert.ok(session, 'the aggregate session is on record');
    assert.equal(session.protocol, 'mcp');
    const shown = (await t.api('GET', `/sessions/${session.id}`)).json;
    assert.deepEqual(shown.interactions.map((i: any) => [i.kind, i.method, i.decision, i.rule]), [['mcp.other', 'initialize', 'allow', 'one-aggregate-each']]);
    await pollUntil(async () => (await sessionsOf('solo', 'rec'))[0]?.endedAt !== null, 'the aggregate session to end on record');
    assert.equal((await sessionsOf('member', 'rec')).length, 1, 'the call itself is recorded on the served connection');
  });

  test('a rule denying the aggregate\'s initialize refuses the session, on record', async () => {
    const token = await t.token({ user: 'shut', groups: ['engineering'], connections: ['closed', 'member'] });
    await assert.rejects(connectClient(t.url, 'closed', token), (err: any) => /policy_denied|this aggregate is closed/.test(String(err.message ?? err)));
    const [session] = await sessionsOf('closed', 'shut');
    const shown = (await t.api('GET', `/sessions/${session.id}`)).json;
    assert.deepEqual(shown.interactions.map((i: any) => [i.method, i.decision, i.rule]), [['initialize', 'deny', 'closed-aggregate']]);
    assert.equal((await sessionsOf('member', 'shut')).length, 0, 'no served connection was opened');
  });

  test('concurrent-session limits count aggregate sessions: a second one is refused until the first ends', async () => {
    const token = await t.token({ user: 'lim', groups: ['engineering'], connections: ['solo', 'member'] });
    const first = await connectClient(t.url, 'solo', token);
    try {
      await assert.rejects(connectClient(t.url, 'solo', token), (err: any) => /limit_exceeded/.test(String(err.message ?? err)));
    } finally {
      await disconnect(first);
    }
    await pollUntil(async () => (await sessionsOf('solo', 'lim')).every((s) => s.endedAt !== null), 'the first aggregate session to end').catch(async (err) => {
      throw new Error(`${err.message}: ${JSON.stringify(await sessionsOf('solo', 'lim'))}`);
    });
    const second = await connectClient(t.url, 'solo', token);
    await disconnect(second);
  });

  test('revoking the token ends the aggregate session before it opened any served session', async () => {
    const issued = await t.api('POST', '/tokens', { connections: ['solo', 'member'], for: { user: 'rev', groups: ['engineering'] } });
    const agent = await connectClient(t.url, 'solo', issued.json.token as string);
    const sessionId = agent.transport.sessionId!;
    const revoked = await t.api('DELETE', `/tokens/${issued.json.id}`);
    assert.ok(revoked.status < 300, JSON.stringify(revoked.json));
    await pollUntil(async () => (await sessionsOf('solo', 'rev')).some((s) => s.endedAt !== null && /revoked/.test(s.endReason ?? '')), 'the aggregate session to end as revoked');
    const fresh = await t.token({ user: 'rev', groups: ['engineering'], connections: ['solo', 'member'] });
    const res = await fetch(`${t.url}/mcp/solo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fresh}`, 'mcp-session-id': sessionId, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    await res.body?.cancel();
    assert.equal(res.status, 404, 'the session is gone, not merely refused to the old token');
    assert.equal((await sessionsOf('member', 'rev')).length, 0);
    await agent.client.close();
  });

  for (const connection of ['member', 'solo']) {
    test(`a session id this replica does not hold is 404 on /mcp/${connection}, so the client initializes again`, async () => {
      const token = await t.token({ user: 'roam', groups: ['engineering'], connections: ['solo', 'member'] });
      const res = await fetch(`${t.url}/mcp/${connection}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'mcp-session-id': randomUUID(), 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': LATEST_PROTOCOL_VERSION },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      assert.equal(res.status, 404);
      const body = (await res.json()) as any;
      assert.equal(body.error.data.gatehouse.code, 'not_found');
      assert.match(body.error.message, /initialize a new one/);
      // What the SDK client does on that 404: a new session, which works.
      const agent = await connectClient(t.url, connection, token);
      await disconnect(agent);
    });
  }
});
