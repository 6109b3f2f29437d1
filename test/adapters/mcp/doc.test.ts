/**
 * docs/mcp.md as a reader uses it: the page's SDK snippet, as written (only the gateway's address
 * substituted), run with tsx as the agent against a gateway in front of an SDK-built tool server;
 * README's MCP section shows the very same snippet.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { extractBlocks } from '../../docs/support/markdown.ts';
import { assignedTo } from '../../docs/support/manifest.ts';
import { substitute } from '../../docs/support/shell.ts';
import { startMcpFixture, type McpFixture } from './fixtures.ts';

const DOC = 'docs/mcp.md';
const snippet = () => {
  const found = extractBlocks(DOC).find((b) => b.heading === 'Connecting an agent' && b.index === 1);
  assert.ok(found, `${DOC} › Connecting an agent › 1 is missing`);
  return found.text;
};

let f: McpFixture;
let scratch: string;

before(async () => {
  f = await startMcpFixture({
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
  assert.deepEqual(assignedTo('../adapters/mcp/doc.test.ts'), ['README.md › MCP › 2', `${DOC} › Connecting an agent › 1`].sort());
});

test('README shows the very snippet the page has', () => {
  const readme = extractBlocks('README.md').find((b) => b.heading === 'MCP' && b.index === 2);
  assert.equal(readme?.text, snippet());
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
