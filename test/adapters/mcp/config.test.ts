/**
 * The `mcp` connection type in gatehouse.yaml and through the admin API: what shapes are accepted,
 * what each mistake is told, and that an API token cannot make the gateway run a program.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.ts';
import { DEFAULT_MCP_OPTIONS } from '../../../src/config/mcp.ts';
import { startMcpFixture, type McpFixture } from './fixtures.ts';

const load = (connections: string) => parseConfig(`connections:\n${connections}`, 'test.yaml', { TOKEN: 'secret-value-123' });
const problems = (connections: string): string => {
  try {
    load(connections);
  } catch (err) {
    return (err as Error).message;
  }
  return assert.fail('the config was expected to be refused');
};

describe('mcp connections in gatehouse.yaml', () => {
  test('an HTTP server with a credential, and defaults for every bound', () => {
    const config = load(`  - name: tools\n    type: mcp\n    upstream: https://mcp.example.com/mcp\n    credential: \${TOKEN}\n`);
    assert.equal(config.connections[0]!.type, 'mcp');
    assert.equal(config.connections[0]!.mcp, undefined);
    assert.deepEqual(DEFAULT_MCP_OPTIONS, { args: [], env: {}, maxSessions: 16, maxMessageBytes: 1024 * 1024, callTimeout: 60_000, idleTimeout: 1_800_000, pinTools: true, approvers: ['security'] });
  });

  test('a stdio server with command, args, env and bounds', () => {
    const config = load(`  - name: local\n    type: mcp\n    upstream: "stdio:"\n    mcp:\n      command: /usr/bin/tool\n      args: [serve]\n      env:\n        API_KEY: \${TOKEN}\n      maxSessions: 3\n      maxMessageBytes: 64kb\n      callTimeout: 10s\n      idleTimeout: 5m\n`);
    assert.deepEqual(config.connections[0]!.mcp, { command: '/usr/bin/tool', args: ['serve'], env: { API_KEY: 'secret-value-123' }, maxSessions: 3, maxMessageBytes: 65536, callTimeout: 10_000, idleTimeout: 300_000, pinTools: true, approvers: ['security'] });
  });

  for (const [what, yaml, message] of [
    ['stdio without a command', `    upstream: "stdio:"\n`, /mcp\.command/],
    ['stdio with a credential', `    upstream: "stdio:"\n    credential: x\n    mcp: { command: /bin/tool }\n`, /secrets in mcp\.env/],
    ['HTTP with a command', `    upstream: https://x.example/mcp\n    mcp: { command: /bin/sh }\n`, /for stdio servers/],
    ['HTTP with env', `    upstream: https://x.example/mcp\n    mcp: { env: { A: b } }\n`, /mcp\.env is for stdio/],
    ['another scheme', `    upstream: ftp://x.example/\n`, /http:\/\/ or https:\/\/ URL, or "stdio:"/],
    ['an env name with a space', `    upstream: "stdio:"\n    mcp: { command: /bin/tool, env: { "A B": c } }\n`, /environment variable name/],
    ['a bare-number timeout', `    upstream: https://x.example/mcp\n    mcp: { callTimeout: 30 }\n`, /expected string|invalid/i],
    ['a zero session cap', `    upstream: https://x.example/mcp\n    mcp: { maxSessions: 0 }\n`, /maxSessions/],
    ['an unknown field', `    upstream: https://x.example/mcp\n    mcp: { shell: true }\n`, /shell/],
  ] as const) {
    test(`refused: ${what}`, () => {
      assert.match(problems(`  - name: bad\n    type: mcp\n${yaml}`), message);
    });
  }

  test('an mcp block on another connection type is refused', () => {
    assert.match(problems(`  - name: api\n    type: http\n    upstream: https://api.example\n    mcp: { maxSessions: 2 }\n`), /only a connection of type mcp/);
  });
});

describe('mcp connections through the admin API', () => {
  let f: McpFixture;
  before(async () => {
    f = await startMcpFixture();
  });
  after(async () => {
    await f?.close();
  });

  test('an HTTP MCP connection is added with its credential sealed and its bounds kept', async () => {
    const put = await f.t.api('PUT', '/connections/remote-tools', { type: 'mcp', upstream: f.upstream.url, credential: process.env.MCP_UPSTREAM_TOKEN, mcp: { maxSessions: 3, callTimeout: '5s' } });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    assert.equal(put.json.type, 'mcp');
    assert.equal(put.json.hasCredential, true);
    assert.ok(!JSON.stringify(put.json).includes(String(process.env.MCP_UPSTREAM_TOKEN)));
    const row = (await f.t.gateway.store.getConnection('remote-tools'))!;
    assert.deepEqual((row.options as any).mcp.maxSessions, 3);
    assert.ok(!JSON.stringify(row).includes(String(process.env.MCP_UPSTREAM_TOKEN)), 'the credential is stored sealed');
  });

  test('a stdio server cannot be added through the API: it would run a program on the gateway host', async () => {
    const put = await f.t.api('PUT', '/connections/shell', { type: 'mcp', upstream: 'stdio:', mcp: { command: '/bin/sh', args: ['-c', 'id'] } });
    assert.equal(put.status, 400);
    assert.equal(put.json.error.code, 'invalid_argument');
    assert.equal((await f.t.api('GET', '/connections/shell')).status, 404);
  });
});
