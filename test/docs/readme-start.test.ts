/**
 * The README's "Running it for real": its commands run with bash in a folder holding its minimal
 * gatehouse.yaml, and the gateway they start answers on both of its listeners.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, runBash, shellEnv, substitute } from './support/shell.ts';

let shims: string;
let cwd: string;
let child: ChildProcess | undefined;
before(async () => {
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-start-'));
});
after(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((done) => child!.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  }
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const CASES: Record<string, () => Promise<void>> = {
  'README.md › Running it for real › 5': async () => {
    await writeFile(join(cwd, 'gatehouse.yaml'), docBlock('README.md › Running it for real › 2').text);
    const env = shellEnv(shims, { OPENAI_API_KEY: 'sk-from-env', BILLING_KEY: 'billing-from-env' });
    const result = await runBash(docBlock('README.md › Running it for real › 5').text, { cwd, env });
    assert.equal(result.code, 0, describe('config check', result));
    // 8080 or 9090 may be taken on this machine; that is a warning, never an error.
    assert.match(result.stdout, new RegExp(`config OK: ${cwd}/gatehouse\\.yaml \\(\\d+ warning\\(s\\)\\)`));
    assert.match(result.stdout, /^\d+\.\d+\.\d+$/m, 'the version');
    // The check alone (the block's last command, --version, sets the script's exit status).
    const unset = await runBash(commandsOf(docBlock('README.md › Running it for real › 5').text)[0]!, { cwd, env: shellEnv(shims) });
    assert.equal(unset.code, 1, 'without the variables the check fails');
    assert.match(unset.stdout, /connections\[0\]\.credential: environment variable OPENAI_API_KEY is not set/);
    assert.match(unset.stdout, /connections\[1\]\.credential\.value: environment variable BILLING_KEY is not set/);
  },
  'README.md › Running it for real › 1': async () => {
    // The README's minimal config, on free ports instead of 8080 and 9090.
    const config = substitute(docBlock('README.md › Running it for real › 2').text, [
      ['listen: 127.0.0.1:8080', 'listen: 127.0.0.1:0'],
      ['listen: 127.0.0.1:9090', 'listen: 127.0.0.1:0'],
    ]);
    await writeFile(join(cwd, 'gatehouse.yaml'), config);
    // `exec`, so that the process this test stops is the gateway itself and nothing is left behind.
    const script = substitute(docBlock('README.md › Running it for real › 1').text, [['npx gatehouse start', 'exec npx gatehouse start']]);
    child = spawn('bash', ['-c', script], { cwd, env: shellEnv(shims), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout!.on('data', (d) => (stdout += d));
    const banner = await new Promise<string>((done, fail) => {
      let text = '';
      child!.stderr!.on('data', (d) => {
        text += d;
        if (/admin API: .*\n/.test(text)) done(text);
      });
      child!.once('exit', (code) => fail(new Error(`the README's start exited ${code}:\n${text}\n${stdout}`)));
    });
    assert.match(banner, new RegExp(`Gatehouse is running \\(sqlite store, config ${cwd}/gatehouse.yaml, PID \\d+\\)`));
    // GATEHOUSE_ADMIN_TOKEN was set, so no one-time token is made up and printed.
    assert.doesNotMatch(banner, /Admin token/);
    const data = /data plane: (http:\/\/127\.0\.0\.1:\d+)\/proxy\//.exec(banner)?.[1];
    const admin = /admin API: {2}(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(banner)?.[1];
    assert.ok(data && admin, banner);
    // admin.listen moved the admin API to a listener of its own.
    assert.notEqual(admin, data);
    // As the config's comments say: /healthz on both, the admin API and /readyz only on the admin listener.
    assert.equal((await fetch(`${data}/healthz`)).status, 200);
    assert.equal((await fetch(`${admin}/healthz`)).status, 200);
    assert.equal((await fetch(`${admin}/readyz`)).status, 200);
    assert.equal((await fetch(`${admin}/api/v1/whoami`)).status, 401);
    assert.equal((await fetch(`${data}/api/v1/whoami`)).status, 404);
    // The CLI pointed at the data plane says where the admin API is instead of a bare "not found".
    const misdirected = await runBash('npx gatehouse token list', { cwd, env: shellEnv(shims, { GATEHOUSE_URL: data, GATEHOUSE_TOKEN: `gta_${'0'.repeat(48)}` }) });
    assert.notEqual(misdirected.code, 0);
    assert.match(misdirected.stderr, /the admin API is on the admin listener \(admin\.listen in gatehouse\.yaml\): point GATEHOUSE_URL there/);
    // The store went where the config said: ./data/gatehouse.db under the folder it was started in.
    assert.ok(existsSync(join(cwd, 'data', 'gatehouse.db')));
  },
};

for (const id of assignedTo('readme-start.test.ts')) {
  // The timeout is a guard, not a measurement: a start that never prints its banner fails instead of hanging.
  test(id, { timeout: 120_000 }, async () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    await run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('readme-start.test.ts'));
});
