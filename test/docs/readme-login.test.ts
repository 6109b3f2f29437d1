/**
 * The README's sign-in, for real: its `identity.oidc` config, aimed at an OIDC provider on loopback
 * (test/support/oidc-provider.ts) instead of Okta, runs in a gateway; its shell block runs with bash
 * in a terminal without a display (so `gatehouse login` takes the device code), the code approved at
 * the provider as the person would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { runProcess } from '../support/oidc-login-driver.ts';
import { docBlock } from './support/markdown.ts';
import { assignedTo } from './support/manifest.ts';
import { commandsOf, describe, makeShims, shellEnv, substitute } from './support/shell.ts';

const CONFIG = 'README.md › Signing in with `gatehouse login` › 1';
const COMMANDS = 'README.md › Signing in with `gatehouse login` › 2';

let idp: TestOidcProvider;
let t: TestGateway;
let shims: string;
let cwd: string;
before(async () => {
  idp = await startOidcProvider();
  idp.setAccount('alice', { preferred_username: 'alice', groups: ['platform-admins'] });
  const config = substitute(docBlock(CONFIG).text, [
    ['https://example.okta.com/oauth2/default', idp.issuer],
    ['0oa8gatehousecli', idp.clientId],
  ]);
  t = await startTestGateway({ extraYaml: config });
  shims = await makeShims();
  cwd = await mkdtemp(join(tmpdir(), 'gatehouse-docs-login-'));
});
after(async () => {
  await t?.close();
  await idp?.close();
  await rm(shims, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** A reader's terminal over SSH or without a display. */
function terminal(): NodeJS.ProcessEnv {
  const env = shellEnv(shims);
  for (const key of ['DISPLAY', 'WAYLAND_DISPLAY', 'SSH_CONNECTION', 'SSH_CLIENT', 'SSH_TTY']) delete env[key];
  return env;
}

const CASES: Record<string, () => Promise<void>> = {
  [COMMANDS]: async () => {
    const commands = commandsOf(docBlock(COMMANDS).text);
    assert.equal(commands.length, 4);
    const [exportUrl, login, list, logout] = commands.map((c) => substitute(c, c.includes('gatehouse.example.com') ? [['https://gatehouse.example.com', t.url]] : [])) as [string, string, string, string];
    // Each later line runs in the shell the export left behind.
    const sh = (command: string) => runProcess('bash', ['-c', `set -e\n${exportUrl}\n${command}`], terminal(), cwd);

    const run = sh(login);
    const [, code] = await run.waitFor(/enter the code ([A-Z0-9-]+)/);
    await idp.approveDevice(code!, 'alice');
    const signedIn = await run.done;
    assert.equal(signedIn.code, 0, describe(login, signedIn));
    assert.match(signedIn.stdout, new RegExp(`^logged in to ${t.url} as alice \\(groups: platform-admins\\) through okta; the session expires .+ and is kept in .+credentials\\.json$`, 'm'));
    const file = join(shims, '.config', 'gatehouse', 'credentials.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const token = JSON.parse(await readFile(file, 'utf8')).gateways[t.url].token as string;
    assert.ok(!signedIn.stdout.includes(token) && !signedIn.stderr.includes(token));

    const listed = await sh(list).done;
    assert.equal(listed.code, 0, describe(list, listed));

    const out = await sh(logout).done;
    assert.equal(out.code, 0, describe(logout, out));
    assert.match(out.stdout, new RegExp(`^logged out of ${t.url}$`, 'm'));
    const after = await sh(list).done;
    assert.notEqual(after.code, 0, 'signed out: the same command has no credential');
    assert.match(after.stderr, /auth_missing/);
  },
};

for (const id of Object.keys(CASES)) test(id, () => CASES[id]!());

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo('readme-login.test.ts'));
});
