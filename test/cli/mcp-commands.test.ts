/**
 * `gatehouse mcp pin` and `gatehouse mcp pins` against a running gateway in front of an SDK-built
 * tool server: the command pins what the server lists, prints it with hashes, shows who pinned,
 * and a tool name crafted to drive the terminal is printed inert.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startPinToolServer, tool, type PinToolServer } from '../adapters/mcp/pin-server.ts';

const MAIN = resolve('src/cli/main.ts');

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

describe('gatehouse mcp', () => {
  let t: TestGateway;
  let server: PinToolServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    server = await startPinToolServer([tool('echo', 'Returns its text'), tool('evil\u001b[2J\u001b]0;owned\u0007', 'Clears your terminal')]);
    t = await startTestGateway({
      extraConnections: `
  - name: tools
    type: mcp
    upstream: ${server.url}
`,
    });
    env = { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: t.dir };
  });
  after(async () => {
    await t?.close();
    await server?.close();
  });

  test('pins shows none before; pin pins the list and prints each tool with its hash; pins shows who', async () => {
    const none = await gatehouse(['mcp', 'pins', 'tools'], env);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no pins on tools/);

    const pinned = await gatehouse(['mcp', 'pin', 'tools'], env);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stdout, /pinned 2 tool\(s\) of tools/);
    const stored = await t.gateway.store.listToolPins('tools');
    for (const pin of stored) assert.ok(pinned.stdout.includes(pin.hash), `${pin.tool}'s hash is printed`);
    assert.ok(!pinned.stdout.includes('\u001b'), 'no escape sequence reaches the terminal');

    const shown = await gatehouse(['mcp', 'pins', 'tools'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /TOOL\s+HASH\s+PINNED\s+BY/);
    assert.match(shown.stdout, /echo\s+[0-9a-f]{64}\s+\S+Z\s+.*admin/);
    assert.ok(!shown.stdout.includes('\u001b'));

    const json = await gatehouse(['--json', 'mcp', 'pins', 'tools'], env);
    assert.deepEqual(JSON.parse(json.stdout).pins.map((p: { hash: string }) => p.hash).sort(), stored.map((p) => p.hash).sort());
  });

  test('an unknown connection and a missing token fail with the API\'s code', async () => {
    const unknown = await gatehouse(['mcp', 'pin', 'nope'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not_found/);
    const anonymous = await gatehouse(['mcp', 'pins', 'tools'], { ...env, GATEHOUSE_TOKEN: '' });
    assert.notEqual(anonymous.code, 0);
  });
});
