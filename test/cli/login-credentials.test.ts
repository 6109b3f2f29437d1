/**
 * Where `gatehouse login` keeps the session and how every command picks its credential, in
 * process with an injected clock: file and folder modes, one key per gateway however its URL is
 * written, expiry, precedence (GATEHOUSE_TOKEN, the session, an admin token saved for that gateway
 * only), and a file or symlink planted where the credentials go.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callApi, clientSettings } from '../../src/cli/api-client.ts';
import { credentialsPath, gatewayKey, readLoginToken, removeLoginToken, saveLoginToken, type StoredLogin } from '../../src/cli/credentials-file.ts';

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'gatehouse-credentials-'));
});
after(() => rm(root, { recursive: true, force: true }));

async function home(): Promise<NodeJS.ProcessEnv> {
  const dir = join(root, `h${++n}`);
  await mkdir(dir);
  return { XDG_CONFIG_HOME: dir, HOME: dir };
}

const T0 = 1_700_000_000_000;
const TOKEN = `gta_${'A'.repeat(40)}`;
const entry = (over: Partial<StoredLogin> = {}): StoredLogin => ({ token: TOKEN, expiresAt: T0 + 3600_000, principal: 'alice', issuer: 'corp', savedAt: T0, ...over });

describe('the credentials file', () => {
  test('written 0600 in a 0700 folder, whole (no temporary file left behind)', async () => {
    const env = await home();
    await mkdir(join(env.XDG_CONFIG_HOME!, 'gatehouse'), { mode: 0o755 });
    const file = await saveLoginToken('https://gw.example.com', entry(), env);
    assert.equal(file, join(env.XDG_CONFIG_HOME!, 'gatehouse', 'credentials.json'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(file, '..'))).mode & 0o777, 0o700, 'an existing looser folder is tightened');
    assert.deepEqual(await readdir(join(file, '..')), ['credentials.json']);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 1, gateways: { 'https://gw.example.com': entry() } });
  });

  test('a relative XDG_CONFIG_HOME is ignored (the spec says so), never a folder under the cwd', () => {
    assert.equal(credentialsPath({ XDG_CONFIG_HOME: 'relative/dir', HOME: '/home/x' }).startsWith('relative'), false);
  });

  test('one key per gateway, however the URL is written', () => {
    for (const url of ['https://GW.example.com', 'https://gw.example.com/', 'https://gw.example.com:443', 'HTTPS://gw.example.com//']) {
      assert.equal(gatewayKey(url), 'https://gw.example.com', url);
    }
    assert.equal(gatewayKey('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
    assert.equal(gatewayKey('https://gw.example.com/gatehouse/'), 'https://gw.example.com/gatehouse');
    assert.notEqual(gatewayKey('https://gw.example.com'), gatewayKey('http://gw.example.com'));
    assert.notEqual(gatewayKey('https://gw.example.com'), gatewayKey('https://gw.example.com.evil.example'));
    for (const bad of ['gw.example.com', 'ftp://gw.example.com', 'https://u:p@gw.example.com', 'https://gw.example.com/?x=1', 'https://gw.example.com/#x', 'javascript:alert(1)']) {
      assert.throws(() => gatewayKey(bad), Error, bad);
    }
  });

  test('usable until it expires, by the injected clock; then only its expiry is known', async () => {
    const env = await home();
    await saveLoginToken('https://gw.example.com', entry(), env);
    assert.equal((await readLoginToken('https://gw.example.com/', env, () => T0)).token, TOKEN);
    assert.deepEqual(await readLoginToken('https://gw.example.com', env, () => T0 + 3600_000), { expiredAt: T0 + 3600_000 });
    assert.deepEqual(await readLoginToken('https://other.example.com', env, () => T0), {});
  });

  test('several gateways side by side; logout removes one', async () => {
    const env = await home();
    await saveLoginToken('https://a.example.com', entry(), env);
    await saveLoginToken('https://b.example.com', entry({ principal: 'bob' }), env);
    assert.equal(await removeLoginToken('https://A.example.com/', env), true);
    assert.equal(await removeLoginToken('https://a.example.com', env), false);
    assert.equal((await readLoginToken('https://b.example.com', env, () => T0)).entry?.principal, 'bob');
  });

  test('a symlink planted where the file goes is replaced, not written through', async () => {
    const env = await home();
    const dir = join(env.XDG_CONFIG_HOME!, 'gatehouse');
    await mkdir(dir, { mode: 0o700 });
    const target = join(root, `elsewhere-${n}`);
    await writeFile(target, 'do not overwrite');
    await symlink(target, join(dir, 'credentials.json'));
    await assert.rejects(readLoginToken('https://gw.example.com', env), /not a regular file/);
    await saveLoginToken('https://gw.example.com', entry(), env);
    assert.equal(await readFile(target, 'utf8'), 'do not overwrite');
    assert.equal((await readLoginToken('https://gw.example.com', env, () => T0)).token, TOKEN);
  });

  test('refused: readable by others, not a file this version wrote, a token that could inject a header', async () => {
    const env = await home();
    const file = await saveLoginToken('https://gw.example.com', entry(), env);
    await chmod(file, 0o640);
    await assert.rejects(readLoginToken('https://gw.example.com', env), /can be read by other users \(mode 640\); run chmod 600/);
    for (const text of ['not json', '{"version":2,"gateways":{}}', JSON.stringify({ version: 1, gateways: { 'https://gw.example.com': entry({ token: `${TOKEN}\r\nX-Evil: 1` }) } })]) {
      await writeFile(file, text, { mode: 0o600 });
      await chmod(file, 0o600);
      await assert.rejects(readLoginToken('https://gw.example.com', env), /not a credentials file this version understands/, text);
    }
    await assert.rejects(saveLoginToken('https://gw.example.com', entry({ token: 'gth_notanapitoken' }), env));
  });
});

describe('which credential a command sends', () => {
  const url = 'https://gw.example.com';

  test('GATEHOUSE_TOKEN wins over a kept session', async () => {
    const env = await home();
    await saveLoginToken(url, entry(), env);
    assert.deepEqual(await clientSettings({ ...env, GATEHOUSE_URL: url, GATEHOUSE_TOKEN: 'gta_fromenv' }, () => T0), { url, token: 'gta_fromenv' });
  });

  test('the kept session while it lasts; once expired, no token and the expiry to report', async () => {
    const env = await home();
    await saveLoginToken(url, entry(), env);
    assert.deepEqual(await clientSettings({ ...env, GATEHOUSE_URL: url }, () => T0), { url, token: TOKEN });
    const expired = await clientSettings({ ...env, GATEHOUSE_URL: url }, () => T0 + 3600_000);
    assert.deepEqual(expired, { url, token: undefined, loginExpiredAt: T0 + 3600_000 });
    // Refused before any request: the URL cannot even be reached, and the message says what to do.
    await assert.rejects(callApi(expired, 'GET', '/whoami'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'auth_expired');
      assert.match(err.message, /^your sign-in to https:\/\/gw\.example\.com expired at 2023-11-14T23:13:20\.000Z; run gatehouse login$/);
      return true;
    });
  });

  test('an admin token saved with --token-stdin goes only to the gateway it was saved for', async () => {
    const env = await home();
    await mkdir(join(env.XDG_CONFIG_HOME!, 'gatehouse'));
    await writeFile(join(env.XDG_CONFIG_HOME!, 'gatehouse', 'cli.json'), JSON.stringify({ url: 'https://gw.example.com/', token: 'gta_saved' }));
    assert.deepEqual(await clientSettings(env, () => T0), { url: 'https://gw.example.com/', token: 'gta_saved' });
    assert.deepEqual(await clientSettings({ ...env, GATEHOUSE_URL: 'https://GW.example.com' }, () => T0), { url: 'https://GW.example.com', token: 'gta_saved' });
    assert.deepEqual(await clientSettings({ ...env, GATEHOUSE_URL: 'https://evil.example.com' }, () => T0), { url: 'https://evil.example.com', token: undefined });
  });
});
