/**
 * `gatehouse connections add` reaches every connection type and credential form the API accepts:
 * flags for the common forms, --from-file for the rest, the gateway's schema judging the whole.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CONNECTION_TYPES } from '../../src/config/schema.ts';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';

function gatehouse(t: TestGateway, args: string[], env: NodeJS.ProcessEnv = {}, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...args], {
    env: { ...process.env, GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

describe('gatehouse connections add', () => {
  let t: TestGateway;
  let upstream: Server;
  let upstreamUrl: string;
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    t = await startTestGateway();
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  });
  after(async () => {
    await t.close();
    await new Promise((done) => upstream.close(done));
  });

  it('its help names every connection type the gateway has', async () => {
    const help = await gatehouse(t, ['connections', 'add', '--help']);
    for (const type of CONNECTION_TYPES) assert.match(help.stdout, new RegExp(`\\b${type}\\b`), `--help lacks ${type}`);
  });

  it('a header credential from the environment reaches the upstream in that header, and only the gateway holds it', async () => {
    const added = await gatehouse(t, ['connections', 'add', 'billing', '--type', 'http', '--upstream', upstreamUrl, '--credential-env', 'BILLING_SECRET', '--credential-header', 'X-Billing-Key'], { BILLING_SECRET: 'billing-secret-123' });
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /connection billing saved \(credential stored, sealed\)/);
    assert.doesNotMatch(added.stdout + added.stderr, /billing-secret-123/);
    const token = await t.token({ connections: ['billing'] });
    const response = await fetch(`${t.url}/proxy/billing/invoices`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    assert.equal(seen.at(-1)!['x-billing-key'], 'billing-secret-123');
    assert.equal(seen.at(-1)!.authorization, undefined, "the agent's token does not go upstream");
  });

  it('basic credentials from standard input', async () => {
    const added = await gatehouse(t, ['--json', 'connections', 'add', 'legacy', '--type', 'http', '--upstream', upstreamUrl, '--credential-stdin', '--credential-username', 'svc'], {}, 'pa55word\n');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).hasCredential, true);
    const token = await t.token({ connections: ['legacy'] });
    await fetch(`${t.url}/proxy/legacy/x`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(seen.at(-1)!.authorization, `Basic ${Buffer.from('svc:pa55word').toString('base64')}`);
  });

  it('--from-file carries what flags do not (an MCP connection and its options); flags override the file', async () => {
    const file = join(t.dir, 'tools.yaml');
    await writeFile(file, `type: mcp\nupstream: http://127.0.0.1:9/mcp\ntags: [tools]\nmcp:\n  maxSessions: 7\n  pinTools: true\n`);
    const added = await gatehouse(t, ['--json', 'connections', 'add', 'tools', '--from-file', file, '--tag', 'mcp,internal']);
    assert.equal(added.code, 0, added.stderr);
    const view = JSON.parse(added.stdout);
    assert.equal(view.type, 'mcp');
    assert.deepEqual(view.tags, ['mcp', 'internal']);
  });

  const refusals: [string, string[], NodeJS.ProcessEnv, string, RegExp][] = [
    ['no type or upstream', ['connections', 'add', 'x'], {}, '', /needs --type and --upstream/],
    ['both secret sources', ['connections', 'add', 'x', '--type', 'http', '--upstream', 'http://127.0.0.1:9', '--credential-env', 'S', '--credential-stdin'], { S: 'v' }, 'v', /not both/],
    ['a header without a secret', ['connections', 'add', 'x', '--type', 'http', '--upstream', 'http://127.0.0.1:9', '--credential-header', 'X-K'], {}, '', /need the secret from --credential-env or --credential-stdin/],
    ['an empty variable', ['connections', 'add', 'x', '--type', 'http', '--upstream', 'http://127.0.0.1:9', '--credential-env', 'EMPTY'], { EMPTY: '' }, '', /environment variable EMPTY is empty/],
    ['an unknown type, judged by the gateway', ['connections', 'add', 'x', '--type', 'mysql', '--upstream', 'http://127.0.0.1:9'], {}, '', /type/],
    ['a postgres connection with a bearer credential', ['connections', 'add', 'db', '--type', 'postgres', '--upstream', 'postgres://127.0.0.1:5432/app', '--credential-env', 'S'], { S: 'secret-pg' }, '', /basic/],
  ];
  for (const [name, args, env, input, expected] of refusals) {
    it(`refuses ${name}, with a non-zero exit and no secret in the message`, async () => {
      const result = await gatehouse(t, args, env, input);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, expected);
      assert.doesNotMatch(result.stderr, /secret-pg|\bv\b.*credential/);
    });
  }

  it('a --from-file that is not one connection is refused', async () => {
    const file = join(t.dir, 'list.yaml');
    await writeFile(file, '- type: http\n');
    const result = await gatehouse(t, ['connections', 'add', 'x', '--from-file', file]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /must hold one connection/);
  });
});
