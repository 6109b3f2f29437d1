/**
 * The purge through a running gateway: POST /audit/purge (admins only; a dry run changes nothing),
 * `gatehouse audit purge`, the record it leaves on the chain, and verify's report of it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
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

describe('the retention purge through a gateway', () => {
  let dir: string;
  let t: TestGateway;
  let bare: TestGateway;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-purge-'));
    await writeFile(join(dir, 'key.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    t = await startTestGateway({
      dir,
      extraYaml: `${ROLES_YAML}
audit:
  checkpoints:
    keyFile: ${join(dir, 'key.pem')}
  retention:
    interactions: 30d
    sessions: 30d
    events: 30d
    bodies: 1d
`,
    });
    bare = await startTestGateway({ dir: join(dir, 'bare') });
  });
  after(async () => {
    await t?.close();
    await bare?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a dry run counts and records nothing; a run records audit.purged, checkpointed, and verify lists it', async () => {
    const dry = await t.api('POST', '/audit/purge?dryRun=true');
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    assert.equal(dry.json.dryRun, true);
    assert.equal(dry.json.id, null);
    assert.deepEqual(dry.json.counts, { bodies: 0, interactions: 0, sessions: 0, events: 0, ledger: 0 }, 'nothing here is a day old');
    assert.equal((await t.api('GET', '/audit/verify')).json.purges.length, 0);
    const run = await t.api('POST', '/audit/purge');
    assert.equal(run.status, 200);
    assert.match(run.json.id, /^aud_/);
    const verified = (await t.api('GET', '/audit/verify')).json;
    assert.equal(verified.ok, true, JSON.stringify(verified.problems));
    // With a key, a purge is trusted only once a checkpoint signs its record: the run signed one.
    assert.deepEqual(verified.purges.map((p: { id: string }) => p.id), [run.json.id]);
  });

  it('the CLI runs it and says what it did', async () => {
    const env = { GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: ADMIN_TOKEN };
    const dry = await gatehouse(['audit', 'purge', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: would remove 0 interactions, 0 sessions, 0 audit events, the bodies of 0 interactions, 0 ledger entries/);
    const verify = await gatehouse(['audit', 'verify'], env);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /audit trail verified/);
  });

  it('only an admin purges; an auditor, a plain user and an agent token are refused', async () => {
    const auditor = await personWithToken(t.gateway.store, 'sam-sec', ['security']);
    const user = await personWithToken(t.gateway.store, 'al', ['engineering']);
    assert.equal((await t.api('POST', '/audit/purge?dryRun=true', undefined, auditor.token)).status, 403);
    assert.equal((await t.api('POST', '/audit/purge', undefined, user.token)).status, 403);
    assert.equal((await t.api('POST', '/audit/purge', undefined, await t.token())).status, 401);
  });

  it('refuses a dryRun that is not true or false, and answers not_found without audit.retention', async () => {
    for (const q of ['yes', '1', 'TRUE', '']) assert.equal((await t.api('POST', `/audit/purge?dryRun=${q}`)).status, 400, q);
    const none = await bare.api('POST', '/audit/purge');
    assert.equal(none.status, 404);
    assert.match(JSON.stringify(none.json), /audit\.retention/);
  });
});
