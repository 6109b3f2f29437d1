/**
 * Replay of an MCP session: the SDK's own client through a gateway before an SDK-built tool server;
 * the replay shows each tool call with its arguments and result (a secret in the arguments masked),
 * and a call a rule denied with its rule.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMcpFixture, connectClient, type McpFixture } from '../adapters/mcp/fixtures.ts';
import { eventually } from '../adapters/postgres/fixture.ts';

const KEY = 'AKIAIOSFODNN7EXAMPLE';

let f: McpFixture;
before(async () => {
  f = await startMcpFixture({
    pin: ['tools'],
    policyYaml: `
policy:
  rules:
    - name: no-deletes
      match: { interactions: [mcp.tool_call] }
      when: "request.mcp.tool == 'delete_records'"
      action: deny
      reason: agents do not delete
    - name: allow-all
      action: allow
`,
  });
});
after(() => f?.close());

test('an MCP session replays its tool calls, arguments and results, masked, and the denied call with its rule', async () => {
  const token = await f.t.token({ connections: ['tools'] });
  const { client } = await connectClient(f.t.url, 'tools', token);
  const echoed = await client.callTool({ name: 'echo', arguments: { text: `key ${KEY}` } });
  assert.ok(echoed);
  const denied = await client.callTool({ name: 'delete_records', arguments: { table: 'users' } }).then(
    (r) => r,
    (err) => err,
  );
  assert.ok(denied);
  await client.close();

  let page: any;
  await eventually(async () => {
    const session = (await f.t.api('GET', '/sessions?connection=tools&kind=mcp.tool_call')).json.sessions[0];
    if (!session) return false;
    page = (await f.t.api('GET', `/sessions/${session.id}/replay`)).json;
    return page.entries.filter((e: any) => e.kind === 'mcp.tool_call' && e.completedAt !== null).length === 2;
  }, 10_000, 'two tool calls recorded');
  assert.ok(!JSON.stringify(page).includes(KEY), 'the key in the arguments is masked');
  const [echo, del] = page.entries.filter((e: any) => e.kind === 'mcp.tool_call');
  assert.equal(echo.request.tool, 'echo');
  assert.match(echo.request.arguments, /^\{"text":"key \[[A-Z_]+\]"\}$/);
  assert.match(echo.response.text, /^echo: key \[[A-Z_]+\]$/);
  assert.deepEqual([del.request.tool, del.decision, del.rule, del.response], ['delete_records', 'deny', 'no-deletes', null]);
});
