/**
 * MCP sessions as pipeline sessions: concurrent-session limits count them, disabling the person
 * closes them (their next request is refused, the record says why), and every call is recorded
 * in order under one session the sessions API shows.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../../support/poll.ts';
import { connectClient, disconnect, startMcpFixture, textOf, type McpFixture } from './fixtures.ts';

const ROLES = `
identity:
  roles:
    - group: engineering
      role: user
      connections: [tools, local, broken, openai]
`;

const POLICY = `
policy:
  rules:
    - name: one-agent-each
      match: { connections: [tools] }
      action: allow
      limits: { concurrentSessionsPerIdentity: 1 }
    - name: allow-the-rest
      action: allow
`;

describe('MCP sessions, limits and offboarding', () => {
  let f: McpFixture;

  before(async () => {
    f = await startMcpFixture({
      policyYaml: POLICY,
      extraYaml: ROLES,
      extraMcp: `
  - name: broken
    type: mcp
    upstream: "stdio:"
    mcp:
      command: /nonexistent/gatehouse-test-tool
      maxSessions: 1
`,
    });
  });
  after(async () => {
    await f?.close();
  });

  test('a concurrent-session limit counts MCP sessions: a second one is refused until the first ends', async () => {
    const token = await f.t.token({ user: 'lim', groups: ['engineering'], connections: ['tools'] });
    const first = await connectClient(f.t.url, 'tools', token);
    try {
      await assert.rejects(connectClient(f.t.url, 'tools', token), (err: any) => /limit_exceeded/.test(String(err.message ?? err)) || err.data?.gatehouse?.code === 'limit_exceeded');
      assert.equal(textOf(await first.client.callTool({ name: 'echo', arguments: { text: 'one' } })), 'echo: one', 'the first session goes on');
    } finally {
      await disconnect(first);
    }
    const second = await connectClient(f.t.url, 'tools', token);
    await disconnect(second);
  });

  test('disabling the person ends their MCP sessions: refused at once, ended on record, the process stopped', async () => {
    const token = await f.t.token({ user: 'mallory', groups: ['engineering'], connections: ['tools', 'local'] });
    const http = await connectClient(f.t.url, 'tools', token);
    const stdio = await connectClient(f.t.url, 'local', token);
    const pid = JSON.parse(textOf(await stdio.client.callTool({ name: 'whoami', arguments: {} }))).pid as number;
    assert.equal(textOf(await http.client.callTool({ name: 'echo', arguments: { text: 'before' } })), 'echo: before');

    const disabled = await f.t.api('POST', '/users/mallory/disable');
    assert.equal(disabled.status, 200, JSON.stringify(disabled.json));

    await assert.rejects(http.client.callTool({ name: 'echo', arguments: { text: 'after' } }));
    await assert.rejects(stdio.client.callTool({ name: 'echo', arguments: { text: 'after' } }));
    assert.ok(!f.upstream.received.some((r) => (r.arguments as any)?.text === 'after'), 'nothing after the disable reached a tool');
    await pollUntil(async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the stdio process to stop');
    await pollUntil(async () => {
      const sessions = (await f.t.api('GET', '/sessions?principal=mallory&limit=100')).json.sessions as any[];
      return sessions.filter((s) => s.protocol === 'mcp' && s.interactionCount > s.deniedCount).every((s) => s.endedAt !== null);
    }, 'every MCP session of mallory to be ended on record');
    await http.client.close();
    await stdio.client.close();
  });

  test('a stdio server that cannot start is upstream_unreachable, says nothing of its path, and frees its place', async () => {
    const token = await f.t.token({ user: 'brk', groups: ['engineering'], connections: ['broken'] });
    for (let i = 0; i < 2; i++) {
      // Twice: a failed start must not keep the only place (maxSessions: 1).
      const err = await connectClient(f.t.url, 'broken', token).then(
        () => assert.fail('expected a refusal'),
        (e: Error) => e,
      );
      assert.match(err.message, /upstream_unreachable/);
      assert.doesNotMatch(err.message, /nonexistent/);
    }
    assert.ok(f.t.logs.join('').includes('could not start an MCP connection'), 'the reason is logged for the operator');
  });

  test('every call is recorded in order in one session, with kind, tool, decision and duration', async () => {
    const token = await f.t.token({ user: 'rec', groups: ['engineering'], connections: ['local'] });
    const c = await connectClient(f.t.url, 'local', token);
    await c.client.listTools();
    await c.client.callTool({ name: 'echo', arguments: { text: 'first' } });
    await c.client.callTool({ name: 'echo', arguments: { text: 'second' } });
    await disconnect(c);
    const [session] = (await f.t.api('GET', '/sessions?principal=rec&connection=local')).json.sessions as any[];
    const shown = (await f.t.api('GET', `/sessions/${session.id}`)).json;
    assert.equal(shown.session.protocol, 'mcp');
    assert.deepEqual(
      shown.interactions.map((i: any) => [i.kind, i.method, i.target]),
      [
        ['mcp.other', 'initialize', null],
        ['mcp.other', 'tools/list', null],
        ['mcp.tool_call', 'tools/call', 'echo'],
        ['mcp.tool_call', 'tools/call', 'echo'],
      ],
    );
    const second = shown.interactions[3];
    assert.equal(second.decision, 'allow');
    assert.equal(second.rule, 'allow-the-rest');
    assert.equal(JSON.parse(second.requestBody).text, 'second');
    assert.match(second.responseBody, /echo: second/);
    assert.equal(typeof second.latencyMs, 'number');
    assert.equal(shown.chain.ok, true, 'the hash chain verifies');
  });
});
