/**
 * docs/mcp.md as a reader uses it: on a connection nobody pinned yet, the page's `gatehouse mcp pin`
 * block run with bash as an admin, then its SDK snippet, as written (only the gateway's address
 * substituted), run with tsx as the agent against a gateway in front of an SDK-built tool server;
 * README's MCP section shows the very same blocks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { extractBlocks } from '../../docs/support/markdown.ts';
import { assignedTo } from '../../docs/support/manifest.ts';
import { commandsOf, makeShims, runBash, shellEnv, substitute } from '../../docs/support/shell.ts';
import { ADMIN_TOKEN } from '../../support/gateway.ts';
import { startMcpFixture, type McpFixture } from './fixtures.ts';

const DOC = 'docs/mcp.md';
const block = (index: number) => {
  const found = extractBlocks(DOC).find((b) => b.heading === 'Connecting an agent' && b.index === index);
  assert.ok(found, `${DOC} › Connecting an agent › ${index} is missing`);
  return found.text;
};
const pinBlock = () => block(1);
const snippet = () => block(2);

let f: McpFixture;
let scratch: string;

before(async () => {
  // Nothing pinned: the page's own command does it.
  f = await startMcpFixture({
    pin: [],
    policyYaml: `
policy:
  rules:
    - name: no-deletes
      match: { interactions: [mcp.tool_call] }
      when: "request.mcp.tool.startsWith('delete_')"
      action: deny
    - name: allow-the-rest
      action: allow
`,
  });
  // Inside the checkout, so the snippet's imports resolve as in a reader's project.
  scratch = await mkdtemp(resolve('.mcp-doc-'));
});
after(async () => {
  await f?.close();
  await rm(scratch, { recursive: true, force: true });
});

test('this file runs exactly the blocks the manifest assigns it', () => {
  assert.deepEqual(assignedTo('../adapters/mcp/doc.test.ts'), ['README.md › MCP › 2', 'README.md › MCP › 3', `${DOC} › Connecting an agent › 1`, `${DOC} › Connecting an agent › 2`].sort());
});

test('README shows the very blocks the page has', () => {
  const readme = (index: number) => extractBlocks('README.md').find((b) => b.heading === 'MCP' && b.index === index)?.text;
  assert.equal(readme(2), pinBlock());
  assert.equal(readme(3), snippet());
});

test('on a connection nobody pinned, the page\'s gatehouse mcp pin pins the list and gatehouse mcp pins shows it', async () => {
  assert.deepEqual(await f.t.gateway.store.listToolPins('tools'), []);
  const shims = await makeShims();
  const env = shellEnv(shims, { GATEHOUSE_URL: f.t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN });
  const [pin, show] = commandsOf(pinBlock());
  const pinned = await runBash(pin!, { cwd: scratch, env });
  assert.equal(pinned.code, 0, pinned.stderr);
  const pins = await f.t.gateway.store.listToolPins('tools');
  assert.ok(pins.some((p) => p.tool === 'echo'));
  for (const p of pins) assert.ok(pinned.stdout.includes(p.hash), `${p.tool}'s hash is printed`);
  const shown = await runBash(show!, { cwd: scratch, env });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /echo\s+[0-9a-f]{64}/);
  await rm(shims, { recursive: true, force: true });
});

test('the SDK snippet lists the allowed tools and calls one through the gateway', async () => {
  const token = await f.t.token({ connections: ['tools'] });
  const file = join(scratch, 'agent.mts');
  await writeFile(file, substitute(snippet(), [['http://127.0.0.1:8080', f.t.url]]));
  const agent = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, GATEHOUSE_AGENT_TOKEN: token } });
  let stdout = '';
  let stderr = '';
  agent.stdout.on('data', (d) => (stdout += d));
  agent.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((done) => agent.once('close', done));
  assert.equal(code, 0, stderr);
  const [names, content] = stdout.trim().split('\n');
  assert.ok(names!.split(', ').includes('echo'));
  assert.ok(!names!.split(', ').includes('delete_records'), 'the denied tool is not listed');
  assert.match(content!, /echo: hello through the gateway/);
  assert.ok(f.upstream.received.some((r) => r.tool === 'echo' && (r.arguments as any).text === 'hello through the gateway'));
});
