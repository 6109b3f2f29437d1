/**
 * docs/troubleshooting.md: each command runs with bash against a store a real gateway made, and
 * each sample error is the one the CLI prints.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfigFile } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/server.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { describe, makeShims, runBash, shellEnv } from './support/shell.ts';

let shims: string;
let cwd: string;
let key = randomBytes(32).toString('hex');
let printed: string;

const configFile = () => join(cwd, 'gatehouse.yaml');

async function startInProcess(masterKeyHex: string): Promise<Gateway> {
  const config = await loadConfigFile(configFile(), { GATEHOUSE_DATABASE_URL: '' });
  return startGateway({ config, configFile: configFile(), masterKey: Buffer.from(masterKeyHex, 'hex'), env: { GATEHOUSE_DATABASE_URL: '' }, logger: pino({ level: 'silent' }) });
}

async function whoami(gateway: Gateway, token: string): Promise<number> {
  return (await fetch(`${gateway.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;
}

before(async () => {
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-trouble-'));
  await writeFile(configFile(), `http:\n  listen: 127.0.0.1:0\nstore:\n  sqlitePath: ${join(cwd, 'data', 'gatehouse.db')}\npolicy:\n  rules:\n    - name: allow-all\n      action: allow\n`);
  const first = await startInProcess(key);
  printed = first.bootstrap.oneTimeToken!;
  await first.close();
});
after(async () => {
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const bash = (id: string, extra: NodeJS.ProcessEnv) => runBash(docBlock(id).text, { cwd, env: shellEnv(shims, extra) });

const CASES: Record<string, () => Promise<void>> = {
  'docs/troubleshooting.md › Lost admin token › 1': async () => {
    const result = await bash('docs/troubleshooting.md › Lost admin token › 1', { GATEHOUSE_MASTER_KEY: key });
    assert.equal(result.code, 0, describe('reset-token', result));
    const token = /^export GATEHOUSE_TOKEN=(gta_\w+)$/m.exec(result.stdout)?.[1];
    assert.ok(token, result.stdout);
    const gateway = await startInProcess(key);
    try {
      assert.equal(await whoami(gateway, token), 200);
      assert.equal(await whoami(gateway, printed), 401, 'the lost printed token is revoked');
    } finally {
      await gateway.close();
    }
    printed = token;
  },
  'docs/troubleshooting.md › Wrong master key › 1': async () => {
    const result = await runBash('npx gatehouse start --config gatehouse.yaml', { cwd, env: shellEnv(shims, { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex') }) });
    assert.equal(result.code, 2, describe('start', result));
    const sample = docBlock('docs/troubleshooting.md › Wrong master key › 1').text.trim();
    assert.ok(result.stderr.split('\n').includes(sample), `the doc's sample is the CLI's line:\n${result.stderr}`);
  },
  'docs/troubleshooting.md › Rotating the master key › 1': async () => {
    const script = `${docBlock('docs/troubleshooting.md › Rotating the master key › 1').text}\necho "NEW=$GATEHOUSE_NEW_MASTER_KEY"`;
    const result = await runBash(script, { cwd, env: shellEnv(shims, { GATEHOUSE_MASTER_KEY: key }) });
    assert.equal(result.code, 0, describe('keys rotate', result));
    assert.match(result.stdout, /re-sealed \d+ value\(s\) under the new key/);
    const fresh = /^NEW=([0-9a-f]{64})$/m.exec(result.stdout)?.[1];
    assert.ok(fresh, result.stdout);
    await assert.rejects(startInProcess(key), /not the key this store was sealed with/, 'the old key is refused');
    key = fresh;
    const gateway = await startInProcess(key);
    try {
      assert.equal(await whoami(gateway, printed), 200);
    } finally {
      await gateway.close();
    }
  },
  'docs/troubleshooting.md › Port in use › 1': async () => {
    const blocker: Server = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      const file = join(cwd, 'busy.yaml');
      await writeFile(file, `http:\n  listen: 127.0.0.1:${port}\nstore:\n  sqlitePath: ${join(cwd, 'busy', 'gatehouse.db')}\npolicy:\n  rules:\n    - name: allow-all\n      action: allow\n`);
      const result = await runBash(`npx gatehouse start --config ${file}`, { cwd, env: shellEnv(shims, { GATEHOUSE_MASTER_KEY: key }) });
      assert.equal(result.code, 2, describe('start', result));
      const sample = docBlock('docs/troubleshooting.md › Port in use › 1').text.trim().split(':8080').join(`:${port}`).replace('/etc/gatehouse/gatehouse.yaml', file);
      assert.ok(result.stderr.split('\n').includes(sample), `the doc's sample is the CLI's line:\n${result.stderr}`);
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  },
};

for (const id of assignedTo('troubleshooting-doc.test.ts')) {
  // Ids run sorted: the reset (Lost…) comes before the rotation (Rotating…), which signs in with its token.
  test(id, { timeout: 120_000 }, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('troubleshooting-doc.test.ts'));
});
