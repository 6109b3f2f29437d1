/**
 * The MCP gateway end to end with the official SDK on both sides: an McpServer over Streamable HTTP
 * (and over stdio, started by the gateway) as the upstream, the SDK's Client through
 * /mcp/<connection> with a Gatehouse token. Approvals are decided through the API by a second
 * person on a hand-moved clock.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { personWithToken, type Person } from '../../support/people.ts';
import { pollUntil } from '../../support/poll.ts';
import { ManualTime } from '../../approvals/manual-time.ts';
import { TOOL_EMAIL, TOOL_SECRET } from '../../support/mcp-tools.ts';
import { MCP_UPSTREAM_TOKEN } from '../../support/mcp-server.ts';
import { connectClient, disconnect, startMcpFixture, STDIO_SECRET, textOf, type McpFixture } from './fixtures.ts';

export const MCP_ROLES = `
identity:
  roles:
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [tools, local, openai]
`;

export const MCP_POLICY = `
policy:
  rules:
    - name: no-deletes
      match: { interactions: [mcp.tool_call] }
      when: "request.mcp.tool == 'delete_records'"
      action: deny
      reason: deleting records is not allowed for agents
    - name: hold-deploys
      match: { interactions: [mcp.tool_call] }
      when: "request.mcp.tool == 'deploy'"
      action: approve
      approvers: [oncall]
      wait: 10m
      timeout: 15m
    - name: mask-customers
      match: { interactions: [mcp.tool_call] }
      when: "request.mcp.tool in ['lookup_customer', 'echo', 'screenshot']"
      mask: pii
      action: allow
    - name: private-files
      match: { interactions: [mcp.other] }
      when: "request.mcp.method == 'resources/read' && request.mcp.arguments.uri.startsWith('file:')"
      action: deny
      reason: files stay on the server
    - name: mask-resources
      match: { interactions: [mcp.other] }
      when: "request.mcp.method in ['resources/read', 'prompts/get']"
      mask: pii
      action: allow
    - name: sampling-for-ada
      match: { interactions: [mcp.other] }
      when: "request.mcp.method == 'sampling/createMessage' && identity.name == 'ada'"
      action: allow
    - name: no-sampling
      match: { interactions: [mcp.other] }
      when: "request.mcp.method in ['sampling/createMessage', 'elicitation/create', 'roots/list']"
      action: deny
      reason: tool servers may not use the agent's model
    - name: allow-the-rest
      action: allow
`;

describe('MCP gateway with the official SDK on both sides', () => {
  let f: McpFixture;
  let time: ManualTime;
  let bob: Person;
  let ada: string;

  before(async () => {
    time = new ManualTime(Date.now());
    f = await startMcpFixture({ policyYaml: MCP_POLICY, extraYaml: MCP_ROLES, approvals: { now: time.now, timers: time } });
    bob = await personWithToken(f.t.gateway.store, 'bob', ['oncall']);
    ada = await f.t.token({ user: 'ada', groups: ['engineering'], connections: ['tools', 'local'] });
  });
  after(async () => {
    await f?.close();
  });

  const interactionsOf = async (connection: string, principal = 'ada') => {
    const { json } = await f.t.api('GET', `/sessions?connection=${connection}&principal=${principal}&limit=1000`);
    const all = [];
    for (const s of json.sessions) all.push(...(await f.t.api('GET', `/sessions/${s.id}`)).json.interactions);
    return all as any[];
  };

  test('tools/list shows only the tools policy lets the caller call', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      assert.ok(names.includes('echo') && names.includes('deploy'), 'allowed and approval-held tools are listed');
      assert.ok(!names.includes('delete_records'), 'a denied tool is not listed');
    } finally {
      await client.close();
    }
  });

  test('an allowed call reaches the tool with the gateway-held credential, never the agent token', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      const seen = JSON.parse(textOf(result));
      assert.equal(seen.authorization, `Bearer ${MCP_UPSTREAM_TOKEN}`.replace(MCP_UPSTREAM_TOKEN, '[UPSTREAM_CREDENTIAL]'), 'an echoed upstream credential is replaced');
      assert.ok(f.upstream.authorizations.every((a) => a === `Bearer ${MCP_UPSTREAM_TOKEN}`), 'the upstream only ever saw the gateway credential');
      assert.ok(!f.upstream.authorizations.some((a) => a.includes('gth_')), 'the agent token never reached the upstream');
    } finally {
      await client.close();
    }
  });

  test('a denied call is a tool error naming the rule; the tool never runs; the refusal is recorded', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const before = f.upstream.received.length;
      const result = await client.callTool({ name: 'delete_records', arguments: { table: 'users' } });
      assert.equal(result.isError, true);
      assert.match(textOf(result), /deleting records is not allowed/);
      assert.deepEqual((result._meta as any)['gatehouse/error'], { code: 'policy_denied', rule: 'no-deletes' });
      assert.equal(f.upstream.received.slice(before).filter((r) => r.tool === 'delete_records').length, 0);
      const denied = (await interactionsOf('tools')).find((i) => i.target === 'delete_records');
      assert.equal(denied.decision, 'deny');
      assert.equal(denied.rule, 'no-deletes');
      assert.equal(denied.kind, 'mcp.tool_call');
    } finally {
      await client.close();
    }
  });

  test('arguments are masked before the tool sees them, and in the recording', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const result = await client.callTool({ name: 'echo', arguments: { text: `mail ${TOOL_EMAIL} key ${TOOL_SECRET}` } });
      const received = f.upstream.received.filter((r) => r.tool === 'echo').at(-1)!;
      assert.ok(!JSON.stringify(received.arguments).includes(TOOL_EMAIL), 'the email never reached the tool');
      assert.ok(!JSON.stringify(received.arguments).includes(TOOL_SECRET), 'the key never reached the tool');
      assert.ok(!textOf(result).includes(TOOL_SECRET));
      const recorded = (await interactionsOf('tools')).filter((i) => i.target === 'echo').at(-1);
      assert.equal(recorded.decision, 'allow');
      assert.equal(recorded.rule, 'mask-customers');
      assert.ok(recorded.requestBody && !recorded.requestBody.includes(TOOL_EMAIL) && !recorded.requestBody.includes(TOOL_SECRET));
      assert.ok(recorded.latencyMs !== null && recorded.completedAt !== null, 'the call is recorded with its duration');
    } finally {
      await client.close();
    }
  });

  test('results are masked in text, structured content and embedded resources, for the agent and the record', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const result = await client.callTool({ name: 'lookup_customer', arguments: { id: 'c-1' } });
      const shown = JSON.stringify(result);
      assert.ok(!shown.includes(TOOL_SECRET), 'the key never reaches the agent');
      assert.ok(!shown.includes(TOOL_EMAIL), 'the email never reaches the agent');
      assert.ok(result.structuredContent, 'structured content is still there, masked');
      const recorded = (await interactionsOf('tools')).filter((i) => i.target === 'lookup_customer').at(-1);
      assert.ok(recorded.responseBody.includes('customer c-1'), 'the record keeps the masked result');
      assert.ok(!recorded.responseBody.includes(TOOL_SECRET) && !recorded.responseBody.includes(TOOL_EMAIL));
    } finally {
      await client.close();
    }
  });

  test('a session replays in order: the masked call and answer, and the denied call with its rule', async () => {
    const issued = await f.t.token({ user: 'replayer', groups: ['engineering'], connections: ['tools'] });
    const agent = await connectClient(f.t.url, 'tools', issued);
    await agent.client.callTool({ name: 'echo', arguments: { text: `mail ${TOOL_EMAIL}` } });
    await agent.client.callTool({ name: 'delete_records', arguments: { table: 'users' } });
    await disconnect(agent);
    const [session] = (await f.t.api('GET', '/sessions?connection=tools&principal=replayer')).json.sessions as any[];
    const { status, json } = await f.t.api('GET', `/sessions/${session.id}/replay`);
    assert.equal(status, 200, JSON.stringify(json));
    const calls = (json.entries as any[]).filter((e) => e.kind === 'mcp.tool_call');
    assert.deepEqual(calls.map((e) => [e.request.tool, e.decision, e.rule]), [['echo', 'allow', 'mask-customers'], ['delete_records', 'deny', 'no-deletes']]);
    assert.equal(calls[0].request.type, 'mcp');
    assert.match(JSON.stringify(calls[0].response), /echo: mail/, 'the answer is replayed');
    assert.ok(!JSON.stringify(json).includes(TOOL_EMAIL), 'the email is masked in the replay, arguments and answer alike');
    assert.ok((json.entries as any[]).every((e: any, i: number, all: any[]) => i === 0 || e.seq > all[i - 1].seq), 'in order');
  });

  test('under a profile, an image the masker cannot read fails closed', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      await assert.rejects(client.callTool({ name: 'screenshot', arguments: {} }), (err: any) => err.data?.gatehouse?.code === 'masking_failed');
      const recorded = (await interactionsOf('tools')).filter((i) => i.target === 'screenshot').at(-1);
      assert.equal(recorded.errorCode, 'masking_failed');
      assert.equal(recorded.responseBody, null);
    } finally {
      await client.close();
    }
  });

  test('a held call waits; approved by a second person through the API, it runs once', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const call = client.callTool({ name: 'deploy', arguments: { service: 'billing' } });
      let id: string | undefined;
      await pollUntil(async () => {
        const { json } = await f.t.api('GET', '/approvals?status=pending');
        id = (json.approvals as any[]).find((a) => a.summary.tool === 'deploy' && String(a.summary.arguments).includes('billing'))?.id;
        return id !== undefined;
      }, 'a pending approval for deploy');
      const approved = await f.t.api('POST', `/approvals/${id}/approve`, {}, bob.token);
      assert.equal(approved.status, 200, JSON.stringify(approved.json));
      time.fire();
      const result = await call;
      assert.equal(textOf(result), 'deployed billing');
      assert.equal(f.upstream.received.filter((r) => r.tool === 'deploy').length, 1);
      const recorded = (await interactionsOf('tools')).filter((i) => i.target === 'deploy' && i.decision === 'approve');
      assert.equal(recorded.length, 1);
      assert.equal(recorded[0].summary.approval, id);
    } finally {
      await client.close();
    }
  });

  test('a held call that is not decided within the wait is a tool error naming the approval', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      const call = client.callTool({ name: 'deploy', arguments: { service: 'search' } });
      let id: string | undefined;
      await pollUntil(async () => {
        const { json } = await f.t.api('GET', '/approvals?status=pending');
        id = (json.approvals as any[]).find((a) => String(a.summary.arguments).includes('search'))?.id;
        return id !== undefined;
      }, 'a pending approval for deploy search');
      time.advance(10 * 60_000 + 1);
      time.fire();
      const result = await call;
      assert.equal(result.isError, true);
      const error = (result._meta as any)['gatehouse/error'];
      assert.equal(error.code, 'approval_required');
      assert.equal(error.approvalId, id);
      assert.match(textOf(result), new RegExp(`gatehouse approvals approve ${id}`));
      assert.equal(f.upstream.received.filter((r) => (r.arguments as any)?.service === 'search').length, 0);
    } finally {
      await client.close();
    }
  });

  test('resources/read and prompts/get pass the same checks: denied by a rule, masked by another', async () => {
    const { client } = await connectClient(f.t.url, 'tools', ada);
    try {
      await assert.rejects(client.readResource({ uri: 'file:///etc/passwd' }), (err: any) => err.data?.gatehouse?.code === 'policy_denied' && err.data.gatehouse.rule === 'private-files');
      const settings = await client.readResource({ uri: 'config://settings' });
      assert.ok(!JSON.stringify(settings).includes(TOOL_SECRET));
      const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
      assert.ok(!JSON.stringify(prompt).includes(TOOL_EMAIL));
      assert.match(JSON.stringify(prompt), /Hello Ada/);
    } finally {
      await client.close();
    }
  });

  test('sampling from the tool server is decided by policy: allowed for ada, denied for others', async () => {
    const sampling = new Client({ name: 'sampler', version: '1.0.0' }, { capabilities: { sampling: {} } });
    sampling.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'hi from the agent' } }));
    const { client } = await connectClient(f.t.url, 'tools', ada, sampling);
    try {
      const result = await client.callTool({ name: 'ask_model', arguments: {} });
      assert.equal(textOf(result), 'model said: hi from the agent');
    } finally {
      await client.close();
    }
    const eve = await f.t.token({ user: 'eve', groups: ['engineering'], connections: ['tools'] });
    let asked = false;
    const other = new Client({ name: 'sampler', version: '1.0.0' }, { capabilities: { sampling: {} } });
    other.setRequestHandler(CreateMessageRequestSchema, async () => {
      asked = true;
      return { model: 'm', role: 'assistant', content: { type: 'text', text: 'leak' } };
    });
    const second = await connectClient(f.t.url, 'tools', eve, other);
    try {
      const result = await second.client.callTool({ name: 'ask_model', arguments: {} });
      assert.equal(result.isError, true, 'the tool failed because its sampling request was refused');
      assert.equal(asked, false, 'the agent was never asked');
      const refused = (await interactionsOf('tools', 'eve')).find((i) => i.method === 'sampling/createMessage');
      assert.equal(refused.decision, 'deny');
      assert.equal(refused.rule, 'no-sampling');
    } finally {
      await second.client.close();
    }
  });

  test('elicitation from the tool server is denied unless a rule allows it: the agent is never asked', async () => {
    let asked = false;
    const agent = new Client({ name: 'elicited', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    agent.setRequestHandler(ElicitRequestSchema, async () => {
      asked = true;
      return { action: 'accept', content: { env: 'production' } };
    });
    const { client, transport } = await connectClient(f.t.url, 'tools', ada, agent);
    try {
      const result = await client.callTool({ name: 'ask_user', arguments: {} });
      assert.equal(result.isError, true, 'the tool failed because its question was refused');
      assert.equal(asked, false);
      const refused = (await interactionsOf('tools')).find((i) => i.method === 'elicitation/create');
      assert.equal(refused.decision, 'deny');
      assert.equal(refused.rule, 'no-sampling');
    } finally {
      await disconnect({ client, transport });
    }
  });

  test('a stdio server is started per session with its secret env, and stopped when the session ends', async () => {
    const first = await connectClient(f.t.url, 'local', ada);
    const second = await connectClient(f.t.url, 'local', ada);
    try {
      const a = JSON.parse(textOf(await first.client.callTool({ name: 'whoami', arguments: {} })));
      const b = JSON.parse(textOf(await second.client.callTool({ name: 'whoami', arguments: {} })));
      assert.notEqual(a.pid, b.pid, 'one process per session');
      assert.equal(a.env, STDIO_SECRET, 'the process got its secret from the config');
      // A third session passes the cap of two.
      await assert.rejects(connectClient(f.t.url, 'local', ada), /limit_exceeded|most MCP sessions|429/);
      await first.transport.terminateSession();
      await first.client.close();
      await pollUntil(async () => {
        try {
          process.kill(a.pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the first process to stop');
      await disconnect(await connectClient(f.t.url, 'local', ada));
    } finally {
      await first.client.close();
      await disconnect(second);
    }
    await pollUntil(async () => ((await f.t.api('GET', '/sessions?connection=local&limit=1000')).json.sessions as any[]).every((s) => s.endedAt !== null || s.deniedCount === s.interactionCount), 'every local session to end');
  });

  test('revoking the token closes the MCP session: the next call is refused and the session is ended on record', async () => {
    const issued = await f.t.api('POST', '/tokens', { connections: ['tools', 'local'], for: { user: 'ada', groups: ['engineering'] } });
    const token = issued.json.token as string;
    const { client, transport } = await connectClient(f.t.url, 'local', token);
    const pid = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).pid;
    const sessionId = transport.sessionId;
    const revoked = await f.t.api('DELETE', `/tokens/${issued.json.id}`);
    assert.ok(revoked.status < 300, JSON.stringify(revoked.json));
    await assert.rejects(client.callTool({ name: 'whoami', arguments: {} }));
    await pollUntil(async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the process of the revoked session to stop');
    const sessions = (await f.t.api('GET', '/sessions?connection=local&limit=1000')).json.sessions as any[];
    assert.ok(sessions.some((s) => s.endedAt !== null && /revoked/.test(s.endReason ?? '')), 'the session is ended as revoked');
    assert.ok(sessionId);
    await client.close();
  });
});
