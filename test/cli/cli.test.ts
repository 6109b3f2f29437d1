import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { startTestGateway, ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';

const MAIN = resolve('src/cli/main.ts');

/** Runs the CLI without blocking: the gateway it talks to lives in this process. */
function gatehouse(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolveRun) => child.once('close', (code) => resolveRun({ code, stdout, stderr })));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('the gatehouse command against a running gateway', () => {
  let t: TestGateway;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    t = await startTestGateway();
    env = { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN, XDG_CONFIG_HOME: t.dir };
  });
  after(() => t.close());

  test('--help lists the commands and the environment it reads', async () => {
    const { code, stdout } = await gatehouse(['--help']);
    assert.equal(code, 0);
    for (const word of ['start', 'token', 'service-accounts', 'sessions', 'connections', 'policy', 'mask', 'GATEHOUSE_URL']) assert.match(stdout, new RegExp(word));
  });

  test('service account → exchange → token list → revoke → sessions', async () => {
    const created = await gatehouse(['service-accounts', 'create', 'nightly-eval', '--owner', 'admin', '--connections', 'openai', '--expires', '30d'], env);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.split('\n')[0]!;
    assert.match(secret, /^gts_[0-9A-Za-z]{40}$/);

    const exchanged = await gatehouse(['token', 'exchange', '--ttl', '10m'], { ...env, GATEHOUSE_SA_SECRET: secret });
    assert.equal(exchanged.code, 0, exchanged.stderr);
    assert.match(exchanged.stdout.trim(), /^gth_/);

    const issued = await gatehouse(['--json', 'token', 'create', '--connection', 'openai', '--ttl', '15m', '--name', 'nightly-eval'], env);
    assert.equal(issued.code, 0, issued.stderr);
    const { token, id } = JSON.parse(issued.stdout);
    const call = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'from the cli token' }] }),
    });
    assert.equal(call.status, 200);

    const listed = await gatehouse(['token', 'list'], env);
    assert.match(listed.stdout, new RegExp(id));
    assert.ok(!listed.stdout.includes(token), 'token list never shows a secret');

    const revoked = await gatehouse(['token', 'revoke', id], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked 1 token/);

    const sessions = await gatehouse(['--json', 'sessions', 'list', '--connection', 'openai'], env);
    const session = JSON.parse(sessions.stdout).find((s: any) => s.tokenId === id);
    assert.ok(session, 'the session of the CLI-issued token is listed');
    const shown = await gatehouse(['sessions', 'show', session.id], env);
    assert.match(shown.stdout, /from the cli token/);
    assert.match(shown.stdout, /hash chain: verified/);
  });

  test('login saves URL and token (mode 0600) for later commands; a bad token is not saved', async () => {
    const home = { XDG_CONFIG_HOME: join(t.dir, 'login-home'), GATEHOUSE_URL: '', GATEHOUSE_TOKEN: '' };
    const refused = await gatehouse(['login', '--url', t.url, '--token-stdin'], home, 'gta_not-a-real-token-000000000000000');
    assert.notEqual(refused.code, 0);
    const { stat, access } = await import('node:fs/promises');
    await assert.rejects(access(join(t.dir, 'login-home', 'gatehouse', 'cli.json')), 'a refused login writes nothing');
    const saved = await gatehouse(['login', '--url', t.url, '--token-stdin'], home, `${ADMIN_TOKEN}\n`);
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /logged in as admin/);
    assert.equal((await stat(join(t.dir, 'login-home', 'gatehouse', 'cli.json'))).mode & 0o777, 0o600);
    const listed = await gatehouse(['--json', 'token', 'list'], home);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(Array.isArray(JSON.parse(listed.stdout)));
  });

  test('errors are one clear line with the code, and a non-zero exit', async () => {
    const badTtl = await gatehouse(['token', 'create', '--connection', 'openai', '--ttl', '99h'], env);
    assert.notEqual(badTtl.code, 0);
    assert.match(badTtl.stderr, /exceeds the allowed maximum.*\(invalid_argument\)/);
    const noToken = await gatehouse(['token', 'list'], { ...env, GATEHOUSE_TOKEN: '' });
    assert.match(noToken.stderr, /auth_missing|auth_invalid/);
    const down = await gatehouse(['token', 'list'], { ...env, GATEHOUSE_URL: 'http://127.0.0.1:9' });
    assert.match(down.stderr, /cannot reach the gateway/);
  });

  test('a bad config file fails the start with file, line and key, no stack trace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
    try {
      const file = join(dir, 'gatehouse.yaml');
      await import('node:fs/promises').then((fs) => fs.writeFile(file, 'connections:\n  - name: x\n    type: openai\n    upstream: not-a-url\n'));
      const result = await gatehouse(['start', '--config', file], { GATEHOUSE_MASTER_KEY: 'a'.repeat(64) });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /gatehouse\.yaml:4: connections\[0\]\.upstream/);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      await import('node:fs/promises').then((fs) => fs.writeFile(file, 'connections: []\n'));
      const noKey = await gatehouse(['start', '--config', file], { GATEHOUSE_MASTER_KEY: '' });
      assert.match(noKey.stderr, /GATEHOUSE_MASTER_KEY is not set/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('npm start (demo mode): prints a token that works within the minute', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-demo-'));
  const port = await freePort();
  // Through the installed bin, from another folder: what `npx gatehouse start --demo` runs.
  const child = spawn(process.execPath, [resolve('bin/gatehouse.js'), 'start', '--demo'], {
    cwd: dir,
    env: { ...process.env, GATEHOUSE_LISTEN: `127.0.0.1:${port}`, GATEHOUSE_MASTER_KEY: '', GATEHOUSE_ADMIN_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const out = await new Promise<string>((resolveOut, reject) => {
      let text = '';
      child.stderr.on('data', (d) => {
        text += d;
        if (text.includes('sessions list')) resolveOut(text);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
      setTimeout(() => reject(new Error(`no banner: ${text}`)), 30_000).unref();
    });
    const agent = /export GTH=(gth_\w+)/.exec(out)?.[1];
    const admin = /export GATEHOUSE_TOKEN=(gta_\w+)/.exec(out)?.[1];
    assert.ok(agent && admin, out);
    const response = await fetch(`http://127.0.0.1:${port}/proxy/demo/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'Hello, gateway' }] }),
    });
    assert.equal(response.status, 200);
    assert.match(JSON.stringify(await response.json()), /Hello, gateway/);
    const sessions = await fetch(`http://127.0.0.1:${port}/api/v1/sessions`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(((await sessions.json()) as any).sessions.length, 1);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
});
