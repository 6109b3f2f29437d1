/**
 * One endpoint over several MCP connections (/mcp/<aggregate>), with the official SDK on both
 * sides: two SDK-built tool servers behind one aggregate, every call routed to its own
 * connection's session and decided by that connection's rules, a token that reaches one connection
 * seeing only its tools, revocation closing the aggregate, and tool servers naming their tools to
 * spoof, collide or overflow the prefixed names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../../support/poll.ts';
import { personWithToken } from '../../support/people.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { connectClient, disconnect, textOf } from './fixtures.ts';
import { startPinToolServer, tool, type PinToolServer } from './pin-server.ts';

const ROLES = `
identity:
  roles:
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [both, conn-a, conn-b, conn-a_, nested]
`;

const POLICY = `
policy:
  rules:
    - name: no-search-on-a
      match: { connections: [conn-a], interactions: [mcp.tool_call] }
      when: "request.mcp.tool == 'search'"
      action: deny
      reason: search runs on conn-b only
    - name: no-stop-on-a
      match: { connections: [conn-a], interactions: [mcp.tool_call] }
      when: "'text' in request.mcp.arguments && request.mcp.arguments.text == 'stop'"
      action: deny
      reason: conn-a does not take stop
    - name: hold-x-on-a
      match: { connections: [conn-a], interactions: [mcp.tool_call] }
      when: "request.mcp.tool == 'x' && 'text' in request.mcp.arguments && request.mcp.arguments.text == 'hold'"
      action: approve
      approvers: [oncall]
      wait: 10m
      timeout: 15m
    - name: allow-the-rest
      action: allow
`;

const LONG = 'l'.repeat(56); // conn-a__ + 56 = 64 characters: the longest name that fits
const TOO_LONG = 'l'.repeat(57);

describe('MCP aggregate endpoint', () => {
  let t: TestGateway;
  let a: PinToolServer;
  let b: PinToolServer;
  let both: string;

  before(async () => {
    a = await startPinToolServer([tool('echo', 'Returns its text'), tool('search', 'Searches A'), tool('x', 'A\'s x'), tool('y', 'A\'s y'), tool('_y', 'A\'s _y'), tool(LONG, 'fits'), tool(TOO_LONG, 'too long'), tool('dotted.name', 'a dot'), tool('späce name', 'odd')]);
    b = await startPinToolServer([tool('echo', 'Returns its text'), tool('search', 'Searches B'), tool('conn-a__x', 'B pretending to be A'), tool('dup', 'one'), tool('dup', 'two'), tool('', 'empty')]);
    t = await startTestGateway({
      policyYaml: POLICY,
      extraYaml: ROLES,
      extraConnections: `
  - name: conn-a
    type: mcp
    upstream: ${a.url}
    mcp:
      pinTools: false
  - name: conn-b
    type: mcp
    upstream: ${b.url}
    mcp:
      maxMessageBytes: 4kb
      pinTools: false
  - name: conn-a_
    type: mcp
    upstream: ${a.url}
    mcp:
      pinTools: false
  - name: both
    type: mcp
    upstream: "aggregate:"
    mcp:
      aggregate: [conn-a, conn-b]
  - name: nested
    type: mcp
    upstream: "aggregate:"
    mcp:
      aggregate: [conn-a, conn-a_, both]
`,
    });
    both = await t.token({ user: 'ada', groups: ['engineering'], connections: ['both', 'conn-a', 'conn-b', 'conn-a_', 'nested'] });
  });
  after(async () => {
    await t?.close();
    await a?.close();
    await b?.close();
  });

  const names = async (client: any) => (await client.listTools()).tools.map((x: { name: string }) => x.name).sort();
  const sessionsOf = async (connection: string) => (await t.api('GET', `/sessions?connection=${connection}&limit=1000`)).json.sessions as any[];

  test('the list merges both connections under prefixed names, each filtered by its own rules', async () => {
    const agent = await connectClient(t.url, 'both', both);
    try {
      assert.deepEqual(await names(agent.client), [
        'conn-a___y',
        'conn-a__echo',
        `conn-a__${LONG}`,
        'conn-a__x',
        'conn-a__y',
        'conn-b__conn-a__x',
        'conn-b__echo',
        'conn-b__search',
      ]);
    } finally {
      await disconnect(agent);
    }
  });

  test('a call is routed to its own server under the tool\'s own name, and decided by that connection\'s rules', async () => {
    const agent = await connectClient(t.url, 'both', both);
    try {
      const before = { a: a.calls.length, b: b.calls.length };
      assert.equal(textOf(await agent.client.callTool({ name: 'conn-b__echo', arguments: { text: 'stop' } })), 'ran echo');
      assert.deepEqual(b.calls.slice(before.b), ['echo']);
      assert.equal(a.calls.length, before.a, 'conn-a never saw conn-b\'s call');
      // The same call on conn-a meets conn-a's rule, which reads the arguments, so only the call can decide it.
      const denied = (await agent.client.callTool({ name: 'conn-a__echo', arguments: { text: 'stop' } })) as any;
      assert.equal(denied.isError, true);
      assert.equal(denied._meta['gatehouse/error'].code, 'policy_denied');
      assert.equal(denied._meta['gatehouse/error'].rule, 'no-stop-on-a');
      assert.equal(a.calls.length, before.a, 'the denied tool never ran');
      assert.equal(textOf(await agent.client.callTool({ name: 'conn-a__echo', arguments: { text: 'go' } })), 'ran echo');
      assert.deepEqual(a.calls.slice(before.a), ['echo']);
      // Denied on A by a rule that needs no arguments: not listed, and not callable under A's prefix.
      await assert.rejects(agent.client.callTool({ name: 'conn-a__search', arguments: {} }), /no tool "conn-a__search"/);
      assert.equal(textOf(await agent.client.callTool({ name: `conn-a__${LONG}`, arguments: {} })), `ran ${LONG}`);
    } finally {
      await disconnect(agent);
    }
    // Each connection recorded its own session, with the call under the tool's own name.
    const onA = await sessionsOf('conn-a');
    assert.ok(onA.some((s) => s.deniedCount > 0), 'the denial is on conn-a\'s record');
  });

  test('each call is bounded by its own connection\'s mcp.maxMessageBytes, not only the aggregate\'s', async () => {
    const agent = await connectClient(t.url, 'both', both);
    try {
      const before = { a: a.calls.length, b: b.calls.length };
      const big = 'x'.repeat(5000);
      await assert.rejects(agent.client.callTool({ name: 'conn-b__echo', arguments: { text: big } }), (err: any) => err.data?.gatehouse?.code === 'body_too_large');
      assert.equal(b.calls.length, before.b);
      assert.equal(textOf(await agent.client.callTool({ name: 'conn-a__echo', arguments: { text: big } })), 'ran echo');
    } finally {
      await disconnect(agent);
    }
  });

  test('a call held by conn-a\'s rule waits for its approval on the aggregate, and runs once approved', async () => {
    const carol = await personWithToken(t.gateway.store, 'carol', ['oncall']);
    const agent = await connectClient(t.url, 'both', both);
    try {
      const before = a.calls.length;
      const call = agent.client.callTool({ name: 'conn-a__x', arguments: { text: 'hold' } }, undefined, { timeout: 20 * 60_000 });
      let pending: any[] = [];
      await pollUntil(async () => {
        pending = ((await t.api('GET', '/approvals?status=pending&limit=500')).json.approvals as any[]).filter((x) => x.connection === 'conn-a');
        return pending.length === 1;
      }, 'the held call to ask its approval on conn-a');
      assert.equal(a.calls.length, before, 'nothing runs before the approval');
      const approved = await t.api('POST', `/approvals/${pending[0].id}/approve`, {}, carol.token);
      assert.equal(approved.status, 200, JSON.stringify(approved.json));
      assert.equal(textOf(await call), 'ran x');
      assert.deepEqual(a.calls.slice(before), ['x']);
    } finally {
      await disconnect(agent);
    }
  });

  test('a tool server cannot reach another connection by naming its tool with that prefix', async () => {
    const agent = await connectClient(t.url, 'both', both);
    try {
      const before = { a: a.calls.length, b: b.calls.length };
      assert.equal(textOf(await agent.client.callTool({ name: 'conn-b__conn-a__x', arguments: {} })), 'ran conn-a__x');
      assert.deepEqual(b.calls.slice(before.b), ['conn-a__x']);
      assert.equal(a.calls.length, before.a);
      assert.equal(textOf(await agent.client.callTool({ name: 'conn-a__x', arguments: {} })), 'ran x');
      assert.deepEqual(a.calls.slice(before.a), ['x']);
    } finally {
      await disconnect(agent);
    }
  });

  for (const name of [
    'conn-b__dup', // listed twice by its server: neither copy
    'conn-b__conn-a__echo', // a prefix inside a prefix that B never listed
    `conn-a__${TOO_LONG}`, // 65 characters
    'conn-a__dotted.name',
    'conn-a__späce name',
    'conn-b__',
    'conn-c__echo', // no such connection
    'echo', // no prefix
    'conn-a_echo', // one underscore
    'CONN-A__echo',
    'conn-a__echo\u0000',
    ' conn-a__echo',
    'conn-a%5F%5Fecho',
    'both__conn-a__echo', // the aggregate itself as a prefix
    'conn-a__search', // denied on A
  ]) {
    test(`a hostile or unlisted name is refused without reaching a tool server: ${JSON.stringify(name)}`, async () => {
      const agent = await connectClient(t.url, 'both', both);
      try {
        const before = { a: a.calls.length, b: b.calls.length };
        await assert.rejects(agent.client.callTool({ name, arguments: {} }), (err: any) => err.code === -32602);
        assert.deepEqual({ a: a.calls.length, b: b.calls.length }, before);
      } finally {
        await disconnect(agent);
      }
    });
  }

  test('names that collide after prefixing are given to neither tool; an aggregate in an aggregate serves nothing', async () => {
    const agent = await connectClient(t.url, 'nested', both);
    try {
      const listed = await names(agent.client);
      // conn-a's `_y` and conn-a_'s `y` both become conn-a___y.
      assert.ok(!listed.includes('conn-a___y'), listed.join(','));
      assert.ok(listed.includes('conn-a__y') && listed.includes('conn-a____y'), listed.join(','));
      assert.ok(!listed.some((n: string) => n.startsWith('both__')), 'a nested aggregate contributes nothing');
      await assert.rejects(agent.client.callTool({ name: 'conn-a___y', arguments: {} }), (err: any) => err.code === -32602);
    } finally {
      await disconnect(agent);
    }
  });

  test('a token scoped to conn-a only sees conn-a\'s tools and opens no session on conn-b', async () => {
    const onlyA = await t.token({ user: 'ada', groups: ['engineering'], connections: ['both', 'conn-a'] });
    const bSessions = (await sessionsOf('conn-b')).length;
    const agent = await connectClient(t.url, 'both', onlyA);
    try {
      const listed = await names(agent.client);
      assert.ok(listed.length > 0 && listed.every((n: string) => n.startsWith('conn-a__')), listed.join(','));
      const before = b.calls.length;
      await assert.rejects(agent.client.callTool({ name: 'conn-b__echo', arguments: { text: 'hi' } }), (err: any) => err.code === -32602);
      assert.equal(b.calls.length, before);
    } finally {
      await disconnect(agent);
    }
    assert.equal((await sessionsOf('conn-b')).length, bSessions, 'no session on conn-b was opened, not even a refused login');
  });

  test('a token not scoped to the aggregate itself is refused', async () => {
    const notBoth = await t.token({ user: 'ada', groups: ['engineering'], connections: ['conn-a', 'conn-b'] });
    await assert.rejects(connectClient(t.url, 'both', notBoth));
  });

  test('ending the aggregate session ends the session it opened on each connection', async () => {
    const agent = await connectClient(t.url, 'both', both);
    await names(agent.client);
    const open = async () => ({ a: (await sessionsOf('conn-a')).filter((s) => s.endedAt === null).length, b: (await sessionsOf('conn-b')).filter((s) => s.endedAt === null).length });
    const during = await open();
    assert.ok(during.a >= 1 && during.b >= 1, JSON.stringify(during));
    await disconnect(agent);
    await pollUntil(async () => {
      const now = await open();
      return now.a === 0 && now.b === 0;
    }, 'every session the aggregate opened to end');
  });

  test('revoking the token closes the aggregate session: the calls stop and the session id is gone', async () => {
    const issued = await t.api('POST', '/tokens', { connections: ['both', 'conn-a', 'conn-b'], for: { user: 'ada', groups: ['engineering'] } });
    const agent = await connectClient(t.url, 'both', issued.json.token as string);
    assert.equal(textOf(await agent.client.callTool({ name: 'conn-b__echo', arguments: { text: 'hi' } })), 'ran echo');
    const sessionId = agent.transport.sessionId!;
    const revoked = await t.api('DELETE', `/tokens/${issued.json.id}`);
    assert.ok(revoked.status < 300, JSON.stringify(revoked.json));
    await assert.rejects(agent.client.callTool({ name: 'conn-b__echo', arguments: { text: 'hi' } }));
    await pollUntil(async () => (await sessionsOf('conn-b')).some((s) => s.endedAt !== null && /revoked/.test(s.endReason ?? '')), 'conn-b\'s session to end as revoked');
    // The same person with a fresh token: the aggregate session is unknown, not merely refused to the old token.
    const fresh = await t.token({ user: 'ada', groups: ['engineering'], connections: ['both', 'conn-a', 'conn-b'] });
    await pollUntil(async () => {
      const res = await fetch(`${t.url}/mcp/both`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fresh}`, 'mcp-session-id': sessionId, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      });
      await res.body?.cancel();
      return res.status === 404;
    }, 'the revoked aggregate session to be gone');
    await agent.client.close();
  });

  test('a served connection\'s tools/list_changed reaches the agent, and its next list shows the change', async () => {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');
    let changed = 0;
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    const agent = await connectClient(t.url, 'both', both, client);
    const original = [tool('echo', 'Returns its text'), tool('search', 'Searches B'), tool('conn-a__x', 'B pretending to be A'), tool('dup', 'one'), tool('dup', 'two'), tool('', 'empty')];
    try {
      assert.ok((await names(agent.client)).includes('conn-b__echo'));
      await b.setTools([tool('fresh', 'new on B')]);
      await pollUntil(async () => changed > 0, 'the aggregate to pass tools/list_changed on');
      const listed = await names(agent.client);
      assert.ok(listed.includes('conn-b__fresh') && !listed.includes('conn-b__echo'), listed.join(','));
      await assert.rejects(agent.client.callTool({ name: 'conn-b__echo', arguments: {} }), (err: any) => err.code === -32602);
    } finally {
      await b.setTools(original, false);
      await disconnect(agent);
    }
  });

  test('resources and prompts are not served on an aggregate: a JSON-RPC method-not-found error', async () => {
    const agent = await connectClient(t.url, 'both', both);
    try {
      await assert.rejects(agent.client.request({ method: 'resources/list', params: {} } as any, (await import('@modelcontextprotocol/sdk/types.js')).ListResourcesResultSchema), (err: any) => err.code === -32601);
      await assert.rejects(agent.client.request({ method: 'prompts/get', params: { name: 'x' } } as any, (await import('@modelcontextprotocol/sdk/types.js')).GetPromptResultSchema), (err: any) => err.code === -32601);
    } finally {
      await disconnect(agent);
    }
  });
});
