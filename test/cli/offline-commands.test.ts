/**
 * The offline commands, against a real store a real gateway made: `gatehouse admin reset-token`
 * when the printed admin token was lost, and `gatehouse keys rotate` for the master key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { loadConfigFile } from '../../src/config/load.ts';
import { startDemoModel, type DemoModel } from '../../src/demo/demo-model.ts';
import { GatewayError } from '../../src/errors.ts';
import { startGateway, type Gateway } from '../../src/server.ts';
import { createSecretBox } from '../../src/store/secret-box.ts';
import { openStore } from '../../src/store/index.ts';
import { resetAdminToken, rotateKeys } from '../../src/cli/offline-commands.ts';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const UPSTREAM_KEY = `sk-offline-${randomBytes(8).toString('hex')}`;

function gatehouse(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve('src/cli/main.ts'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('offline recovery: admin reset-token and keys rotate', () => {
  let dir: string;
  let configFile: string;
  let demo: DemoModel;
  let printed: string;
  const env = (key: Buffer, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ GATEHOUSE_MASTER_KEY: key.toString('hex'), GATEHOUSE_DATABASE_URL: '', ...extra });

  async function start(key: Buffer): Promise<Gateway> {
    const config = await loadConfigFile(configFile, { ...process.env, GATEHOUSE_DATABASE_URL: '' });
    return startGateway({ config, configFile, masterKey: key, env: { GATEHOUSE_DATABASE_URL: '' }, logger: pino({ level: 'silent' }) });
  }

  async function call(gateway: Gateway, token: string, path: string, init: RequestInit = {}): Promise<{ status: number; json: any }> {
    const response = await fetch(`${gateway.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-offline-'));
    demo = await startDemoModel({ apiKey: UPSTREAM_KEY });
    configFile = join(dir, 'gatehouse.yaml');
    await writeFile(configFile, `http:\n  listen: 127.0.0.1:0\nstore:\n  sqlitePath: ${join(dir, 'gatehouse.db')}\npolicy:\n  rules:\n    - name: allow-all\n      action: allow\n`);
    // The first start without GATEHOUSE_ADMIN_TOKEN prints a one-time token; this test then "loses" it.
    const gateway = await start(K1);
    try {
      printed = gateway.bootstrap.oneTimeToken!;
      assert.match(printed, /^gta_/);
      // A credential sealed under K1, held in the store (a connection made through the API).
      const put = await call(gateway, printed, '/api/v1/connections/model', { method: 'PUT', body: JSON.stringify({ type: 'openai', upstream: demo.url, credential: UPSTREAM_KEY }) });
      assert.equal(put.status, 201, JSON.stringify(put.json));
    } finally {
      await gateway.close();
    }
  });

  after(async () => {
    await demo.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a reset without the master key, or with another one, and changes nothing', async () => {
    assert.match((await refusal(resetAdminToken(configFile, { GATEHOUSE_DATABASE_URL: '' }))).message, /GATEHOUSE_MASTER_KEY is not set/);
    const wrong = await refusal(resetAdminToken(configFile, env(randomBytes(32))));
    assert.match(wrong.message, /not the key this store was sealed with/);
    assert.doesNotMatch(wrong.message, new RegExp(K1.toString('hex')));
    const gateway = await start(K1);
    try {
      assert.equal((await call(gateway, printed, '/api/v1/tokens')).status, 200, 'the printed token still works');
    } finally {
      await gateway.close();
    }
  });

  it('gatehouse admin reset-token prints a new admin token and revokes the lost printed one, recorded', async () => {
    const run = await gatehouse(['admin', 'reset-token', '--config', configFile], env(K1));
    assert.equal(run.code, 0, run.stderr);
    const token = /^export GATEHOUSE_TOKEN=(gta_\w+)$/m.exec(run.stdout)?.[1];
    assert.ok(token, run.stdout);
    assert.match(run.stdout, /Revoked 1 earlier printed admin token/);
    const gateway = await start(K1);
    try {
      assert.equal((await call(gateway, token, '/api/v1/tokens')).status, 200);
      const old = await call(gateway, printed, '/api/v1/tokens');
      assert.equal(old.status, 401);
      assert.equal(old.json.error.code, 'auth_revoked');
      const events = await call(gateway, token, '/api/v1/audit/events');
      assert.equal(events.status, 200, JSON.stringify(events.json));
      const reset = (events.json.events ?? events.json).find((e: any) => e.action === 'resetAdminToken');
      assert.ok(reset, JSON.stringify(events.json));
      assert.ok(!JSON.stringify(events.json).includes(token), 'the new secret is never recorded');
      const verified = await call(gateway, token, '/api/v1/audit/verify');
      assert.equal(verified.status, 200);
      assert.equal(verified.json.ok, true, JSON.stringify(verified.json));
      printed = token;
    } finally {
      await gateway.close();
    }
  });

  it('keys rotate re-seals the stored credential; the old key is refused afterwards, the new one serves traffic', async () => {
    const missingNew = await refusal(rotateKeys(configFile, env(K1)));
    assert.match(missingNew.message, /GATEHOUSE_NEW_MASTER_KEY is not set/);
    const badNew = await refusal(rotateKeys(configFile, env(K1, { GATEHOUSE_NEW_MASTER_KEY: 'not-a-key-at-all' })));
    assert.match(badNew.message, /must be 32 bytes/);
    assert.doesNotMatch(badNew.message, /not-a-key-at-all/);
    const wrongOld = await refusal(rotateKeys(configFile, env(randomBytes(32), { GATEHOUSE_NEW_MASTER_KEY: K2.toString('hex') })));
    assert.match(wrongOld.message, /nothing was changed/);

    const run = await gatehouse(['keys', 'rotate', '--config', configFile, '--json'], env(K1, { GATEHOUSE_NEW_MASTER_KEY: K2.toString('hex') }));
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as { resealed: string[]; alreadyNew: string[] };
    assert.ok(report.resealed.includes('connection:model'), run.stdout);
    assert.equal(report.resealed.at(-1), 'setting:master_key_check', 'the key check moves last');

    const refused = await refusal(start(K1));
    assert.match(refused.message, /not the key this store was sealed with/);
    const gateway = await start(K2);
    try {
      const agent = await call(gateway, printed, '/api/v1/tokens', { method: 'POST', body: JSON.stringify({ connections: ['model'] }) });
      assert.equal(agent.status, 201, JSON.stringify(agent.json));
      const chat = await call(gateway, agent.json.token, '/proxy/model/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal(chat.status, 200, 'the upstream accepted the credential opened with the new key');
    } finally {
      await gateway.close();
    }
  });

  it('an interrupted rotation is finished by running it again with the same keys', async () => {
    const K3 = randomBytes(32);
    // Interrupt by hand: the connection credential alone already moved to K3.
    const store = await openStore({ sqlitePath: join(dir, 'gatehouse.db'), logger: pino({ level: 'silent' }) });
    try {
      const [credential] = (await store.listSealedValues()).filter((v) => v.where === 'connection');
      const plain = createSecretBox(K2).open(credential!.ciphertext, 'connection:model');
      assert.equal(await store.replaceSealedValue(credential!, createSecretBox(K3).seal(plain, 'connection:model')), true);
      assert.equal(await store.replaceSealedValue(credential!, 'v1:stale'), false, 'a value that changed meanwhile is not overwritten');
    } finally {
      await store.close();
    }
    const report = await rotateKeys(configFile, env(K2, { GATEHOUSE_NEW_MASTER_KEY: K3.toString('hex') }));
    assert.deepEqual(report.alreadyNew, ['connection:model']);
    assert.ok(report.resealed.includes('setting:master_key_check'));
    const again = await rotateKeys(configFile, env(K2, { GATEHOUSE_NEW_MASTER_KEY: K3.toString('hex') }));
    assert.deepEqual(again.resealed, [], 'a finished rotation run again changes nothing');
    const gateway = await start(K3);
    await gateway.close();
  });
});
