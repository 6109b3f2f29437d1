import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/server.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const POLICY = `
policy:
  rules:
    - name: no-contractor-embeddings
      match: { groups: [contractors], interactions: [llm.embeddings] }
      action: deny
      reason: contractors may not build embeddings
    - name: big-prompts-need-approval
      match: { interactions: ['llm.*'] }
      when: request.llm.estimated_input_tokens > 1000
      action: approve
      approvers: [ml-leads]
      required: 2
      wait: 1s
    - name: limited-llm
      match: { connections: [openai] }
      action: allow
      limits: { concurrentSessionsPerIdentity: 2, requestsPerMinute: 30 }
`;

async function chat(t: { url: string }, token: string, content: string, model = 'demo', stream = false) {
  return fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content }] }),
  });
}

describe('policy in the gateway', () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway({ policyYaml: POLICY });
  });
  after(() => t.close());

  test('deny names the rule and reason; the upstream sees nothing', async () => {
    const token = await t.token({ user: 'carol', groups: ['contractors'] });
    const before = t.demo.requests.length;
    const response = await fetch(`${t.url}/proxy/openai/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', input: 'x' }),
    });
    assert.equal(response.status, 403);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, 'policy_denied');
    assert.equal(body.error.gatehouse.rule, 'no-contractor-embeddings');
    assert.match(body.error.message, /contractors may not build embeddings/);
    assert.equal(t.demo.requests.length, before);
  });

  test('approve holds the request; with no approver within the rule\'s wait the client gets approval_required naming its approval', async () => {
    const token = await t.token({ user: 'dave', groups: ['eng'] });
    const response = await chat(t, token, 'x'.repeat(8000));
    assert.equal(response.status, 403);
    const body = (await response.json()) as any;
    assert.equal(body.error.code, 'approval_required');
    assert.deepEqual(body.error.gatehouse.approvers, ['ml-leads']);
    assert.match(body.error.gatehouse.approvalId, /^apr_/);
    assert.equal(body.error.gatehouse.approve, `gatehouse approvals approve ${body.error.gatehouse.approvalId}`);
  });

  test('no matching rule denies (default deny), and every decision is recorded with its rule', async () => {
    const token = await t.token({ connections: ['other'], user: 'erin' });
    const response = await fetch(`${t.url}/proxy/other/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as any).error.gatehouse.rule, '<default>');
    const sessions = (await t.api('GET', '/sessions?limit=100')).json.sessions;
    const rules = new Set<string>();
    for (const s of sessions) for (const i of (await t.api('GET', `/sessions/${s.id}`)).json.interactions) rules.add(`${i.decision}:${i.rule}`);
    for (const expected of ['deny:no-contractor-embeddings', 'approve:big-prompts-need-approval', 'deny:<default>']) assert.ok(rules.has(expected), `${expected} recorded`);
  });

  test('concurrency limit: of 5 parallel streams exactly 2 proceed, and slots free up when they end', async () => {
    const token = await t.token({ user: 'frank', groups: ['eng'] });
    const responses = await Promise.all([1, 2, 3, 4, 5].map(() => chat(t, token, 'hold', 'demo-hold', true)));
    const statuses = responses.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
    const refused = responses.find((r) => r.status === 429)!;
    assert.equal(((await refused.json()) as any).error.code, 'limit_exceeded');
    t.demo.releaseHeld();
    await Promise.all(responses.filter((r) => r.status === 200).map((r) => r.text()));
    assert.equal((await chat(t, token, 'after')).status, 200, 'slots were released');
  });

  test('rate limit: requests over the per-minute budget get 429 with Retry-After', async () => {
    const token = await t.token({ user: 'grace', groups: ['eng'] });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 32; i++) {
      const response = await chat(t, token, `n${i}`);
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.text();
    }
    assert.equal(statuses.filter((s) => s === 200).length, 30);
    assert.ok(retryAfter && Number(retryAfter) >= 1, 'Retry-After is set');
  });
});

describe('policy reload', () => {
  test('a changed file is picked up; an invalid one is refused and the old policy stays', async () => {
    const t = await startTestGateway();
    const file = join(t.dir, 'reload.yaml');
    const write = (policy: string) => writeFile(file, t.configText.replace(/\npolicy:[\s\S]*$/, policy));
    await write('\npolicy:\n  rules:\n    - name: allow-all\n      action: allow\n');
    const config = parseConfig(t.configText, file, t.env);
    const gateway: Gateway = await startGateway({ config, configFile: file, masterKey: t.masterKey, env: t.env, logger: (await import('pino')).default({ level: 'silent' }) });
    try {
      const token = await gateway.issueAgentToken({ connections: ['openai'], ttlMs: 60_000, name: 'reload' });
      assert.equal((await chat(gateway, token, 'a')).status, 200);
      await write('\npolicy:\n  rules:\n    - name: closed\n      action: deny\n      reason: maintenance\n');
      await gateway.reload();
      assert.equal((await chat(gateway, token, 'b')).status, 403);
      await write('\npolicy:\n  rules:\n    - name: broken\n      when: "request.llm.model ==="\n      action: allow\n');
      await assert.rejects(gateway.reload(), (err: any) => err.code === 'config_invalid');
      const still = await chat(gateway, token, 'c');
      assert.equal(still.status, 403);
      assert.equal(((await still.json()) as any).error.gatehouse.rule, 'closed');
    } finally {
      await gateway.close();
      await t.close();
    }
  });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((r) => child.once('close', (code) => r({ code, stdout, stderr })));
}

describe('gatehouse policy check / test', () => {
  let dir: string;
  before(async () => {
    const t = await startTestGateway();
    dir = t.dir;
    await t.gateway.close();
    await t.demo.close();
    await writeFile(
      join(dir, 'gatehouse.yaml'),
      `connections:
  - name: prod-db
    type: http
    upstream: http://127.0.0.1:9
    tags: [prod]
policy:
  include: [sql-destructive]
  rules:
    - name: eng-read
      match: { groups: [eng] }
      action: allow
    - name: never-reached
      match: { groups: [eng] }
      action: deny
`,
    );
    await writeFile(join(dir, 'bad.yaml'), 'rules:\n  - name: oops\n    when: "request.sql.kinds.exists(k,"\n    action: allow\n');
  });

  test('check reports CEL errors with the rule and warns about unreachable rules', async () => {
    const ok = await cli(['policy', 'check', '--config', join(dir, 'gatehouse.yaml')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /warning: .*never-reached/);
    const bad = await cli(['policy', 'check', '--config', join(dir, 'gatehouse.yaml'), join(dir, 'bad.yaml')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /error: .*oops/);
  });

  test('test prints the decision, the matched rule and why', async () => {
    const denied = await cli(['policy', 'test', '--config', join(dir, 'gatehouse.yaml'), '--identity', 'alice', '--groups', 'eng', '--connection', 'prod-db', '--connection-type', 'postgres', '--sql', 'DELETE FROM users']);
    assert.equal(denied.code, 3, denied.stderr);
    assert.match(denied.stdout, /deny/i);
    assert.match(denied.stdout, /sql-destructive/);
    const allowed = await cli(['policy', 'test', '--config', join(dir, 'gatehouse.yaml'), '--identity', 'alice', '--groups', 'eng', '--connection', 'prod-db', '--connection-type', 'postgres', '--sql', 'SELECT id FROM users WHERE id = 1']);
    assert.equal(allowed.code, 0, allowed.stderr + allowed.stdout);
    assert.match(allowed.stdout, /eng-read/);
  });
});

describe('gatehouse start reloads policy when the file changes', () => {
  test('an edit takes effect without a restart; an invalid edit is refused and the old policy stays', async () => {
    const t = await startTestGateway();
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const file = join(t.dir, 'watched.yaml');
    const withPolicy = (policy: string) => t.configText.replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`).replace(/\npolicy:[\s\S]*$/, policy);
    await writeFile(file, withPolicy('\npolicy:\n  rules:\n    - name: allow-all\n      action: allow\n'));
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), 'start', '--config', file], {
      env: { ...t.env, GATEHOUSE_MASTER_KEY: t.masterKey.toString('hex') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((ready, fail) => {
        let out = '';
        child.stderr.on('data', (d) => {
          out += d;
          if (out.includes('Gatehouse is running')) ready();
        });
        child.once('exit', (code) => fail(new Error(`exited ${code}: ${out}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const issued = await fetch(`${url}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.env.GATEHOUSE_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ connections: ['openai'] }),
      });
      const { token } = (await issued.json()) as { token: string };
      const gateway = { url };
      assert.equal((await chat(gateway, token, 'before')).status, 200);

      await writeFile(file, withPolicy('\npolicy:\n  rules:\n    - name: closed\n      action: deny\n      reason: maintenance\n'));
      let status = 200;
      for (let i = 0; i < 50 && status === 200; i++) {
        await sleep(100);
        const response = await chat(gateway, token, 'during');
        status = response.status;
        await response.text();
      }
      assert.equal(status, 403, 'the edited policy took effect');

      await writeFile(file, withPolicy('\npolicy:\n  rules:\n    - name: broken\n      when: "request.llm.model ==="\n      action: allow\n'));
      child.kill('SIGHUP');
      await sleep(1000);
      const still = await chat(gateway, token, 'after');
      assert.equal(still.status, 403);
      assert.equal(((await still.json()) as any).error.gatehouse.rule, 'closed', 'the invalid policy was refused; the old one stays');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await t.close();
    }
  });
});
