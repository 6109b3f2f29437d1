/**
 * The trail through a running gateway: every audit event on the chain, verify over the API and
 * the CLI, checkpoints signed and appended to a sink, verified offline with the public key alone,
 * the tail's deletion caught by them, and a key rotation that keeps old checkpoints verifiable.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, ROLES_YAML } from '../support/people.ts';

const MAIN = resolve('src/cli/main.ts');

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

function pem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function chat(t: TestGateway, token: string): Promise<void> {
  const response = await fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] }),
  });
  assert.equal(response.status, 200);
  await response.text();
}

describe('the audit trail through a gateway (SQLite)', () => {
  let dir: string;
  let t: TestGateway;
  let sink: string;
  let db: string;
  let demo: TestGateway['demo'];
  const yaml = (keyFile: string, trusted: string[] = []) => `${ROLES_YAML}
audit:
  checkpoints:
    keyFile: ${keyFile}
    sink: ${sink}
${trusted.length ? `    trustedKeys: [${trusted.join(', ')}]\n` : ''}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-trail-'));
    sink = join(dir, 'checkpoints.jsonl');
    await writeFile(join(dir, 'key-1.pem'), pem(), { mode: 0o600 });
    t = await startTestGateway({ dir, extraYaml: yaml(join(dir, 'key-1.pem')) });
    db = join(dir, 'gatehouse.db');
    demo = t.demo;
  });
  after(async () => {
    // A restarted gateway shares the first one's demo model, which it does not close.
    await t?.close();
    await demo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('chains sessions, interactions and admin actions, and verifies over the API and the CLI', async () => {
    const token = await t.token();
    for (let i = 0; i < 3; i++) await chat(t, token);
    const { json: checkpoint } = await t.api('POST', '/audit/checkpoints');
    assert.equal(checkpoint.checkpoint.writer, 'local');
    const kinds = new Set((new Database(db, { readonly: true }).prepare('SELECT kind FROM audit_ledger').all() as { kind: string }[]).map((r) => r.kind));
    for (const kind of ['session.start', 'interaction', 'audit.open', 'audit.complete']) assert.ok(kinds.has(kind), `${kind} is chained`);
    const { status, json } = await t.api('GET', '/audit/verify');
    assert.equal(status, 200);
    assert.equal(json.ok, true, JSON.stringify(json.problems));
    assert.equal(json.signaturesChecked, true);
    const cli = await gatehouse(['audit', 'verify'], { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /audit trail verified/);
    const lines = (await readFile(sink, 'utf8')).trim().split('\n');
    assert.equal(JSON.parse(lines.at(-1)!).hash, checkpoint.checkpoint.hash, 'the checkpoint reached the sink');
  });

  it('lets an auditor verify and read the key, and refuses an agent token and a plain user', async () => {
    const auditor = await personWithToken(t.gateway.store, 'sam-security', ['security']);
    const user = await personWithToken(t.gateway.store, 'alice', ['engineering']);
    assert.equal((await t.api('GET', '/audit/verify', undefined, auditor.token)).status, 200);
    assert.equal((await t.api('GET', '/audit/public-key', undefined, auditor.token)).status, 200);
    assert.equal((await t.api('POST', '/audit/checkpoints', undefined, auditor.token)).status, 403, 'only an admin signs');
    assert.equal((await t.api('GET', '/audit/verify', undefined, user.token)).status, 403);
    assert.equal((await t.api('GET', '/audit/verify', undefined, await t.token())).status, 401);
  });

  it('verifies offline with the public key alone, and catches the tail cut off with its checkpoints', async () => {
    const key = await gatehouse(['audit', 'public-key'], { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN });
    assert.match(key.stdout, /BEGIN PUBLIC KEY/);
    assert.doesNotMatch(key.stdout, /PRIVATE/);
    await writeFile(join(dir, 'key-1.pub'), key.stdout);
    const token = await t.token();
    await chat(t, token);
    // A stop signs the last head: the tail is covered.
    t = await t.restart();
    await t.gateway.close();
    const offline = ['audit', 'verify', '--public-key', join(dir, 'key-1.pub'), '--database', db, '--checkpoints', sink];
    const clean = await gatehouse(offline, {});
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    // The attacker removes the last interaction, its entries and every checkpoint stored in the database.
    const raw = new Database(db);
    const last = raw.prepare("SELECT seq, ref_id FROM audit_ledger WHERE writer = 'local' AND kind = 'interaction' ORDER BY seq DESC LIMIT 1").get() as { seq: number; ref_id: string };
    raw.prepare("DELETE FROM audit_ledger WHERE writer = 'local' AND seq >= ?").run(last.seq);
    raw.prepare('DELETE FROM interactions WHERE id = ?').run(last.ref_id);
    raw.prepare('DELETE FROM audit_checkpoints').run();
    raw.close();
    const cut = await gatehouse([...offline, '--json'], {});
    assert.equal(cut.code, 1);
    const report = JSON.parse(cut.stdout);
    assert.equal(report.firstBreak.writer, 'local');
    assert.equal(report.firstBreak.kind, 'checkpoint');
    assert.match(report.problems.map((p: { problem: string }) => p.problem).join('\n'), /entries after it were deleted/);
    // Without the sink the database alone no longer shows the cut: say so in the docs, and keep a sink.
    const storedOnly = await gatehouse(['audit', 'verify', '--public-key', join(dir, 'key-1.pub'), '--database', db], {});
    assert.equal(storedOnly.code, 0);
  });

  it('a rotated key signs new checkpoints while the old ones still verify with the retired public key', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'gatehouse-trail-rotate-'));
    try {
      sink = join(fresh, 'checkpoints.jsonl');
      await writeFile(join(fresh, 'key-1.pem'), pem(), { mode: 0o600 });
      await writeFile(join(fresh, 'key-2.pem'), pem(), { mode: 0o600 });
      let g = await startTestGateway({ dir: fresh, extraYaml: yaml(join(fresh, 'key-1.pem')), demo });
      await chat(g, await g.token());
      const old = (await g.api('GET', '/audit/public-key')).json;
      await writeFile(join(fresh, 'key-1.pub'), old.publicKey);
      await g.gateway.close();
      g = await startTestGateway({ dir: fresh, extraYaml: yaml(join(fresh, 'key-2.pem'), [join(fresh, 'key-1.pub')]), demo });
      await chat(g, await g.token());
      const current = (await g.api('GET', '/audit/public-key')).json;
      assert.notEqual(current.keyId, old.keyId);
      await writeFile(join(fresh, 'key-2.pub'), current.publicKey);
      const { json: cp } = await g.api('POST', '/audit/checkpoints');
      assert.equal(cp.checkpoint.keyId, current.keyId);
      const online = (await g.api('GET', '/audit/verify')).json;
      assert.equal(online.ok, true, JSON.stringify(online.problems));
      await g.gateway.close();
      const db2 = join(fresh, 'gatehouse.db');
      const both = await gatehouse(['audit', 'verify', '--public-key', join(fresh, 'key-1.pub'), '--public-key', join(fresh, 'key-2.pub'), '--database', db2, '--checkpoints', sink], {});
      assert.equal(both.code, 0, both.stdout);
      const newOnly = await gatehouse(['audit', 'verify', '--public-key', join(fresh, 'key-2.pub'), '--database', db2, '--json'], {});
      assert.equal(newOnly.code, 1, 'old checkpoints name a key that is not trusted');
      assert.match(newOnly.stdout, /not among the trusted public keys/);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });
});
