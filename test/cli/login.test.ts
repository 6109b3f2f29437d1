/**
 * `gatehouse login` end to end: the CLI as a child process, a real OIDC provider on loopback
 * (test/support/oidc-provider.ts) and a real gateway that trusts it. The device grant and the
 * PKCE flow are driven without a browser; the stored session is then used by an admin command.
 * Refusals: a callback with the wrong state, a denied or expired device code, Ctrl-C, an expired
 * stored session, and a gateway whose answers try to send the person somewhere else.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { denyDevice, runCli, startExpiringDeviceIdp, startLoginGateway } from '../support/oidc-login-driver.ts';

let idp: TestOidcProvider;
let t: TestGateway;
let scratch: string;
let homes = 0;

before(async () => {
  idp = await startOidcProvider();
  idp.setAccount('alice', { preferred_username: 'alice', email: 'alice@example.com', groups: ['admins'] });
  t = await startLoginGateway([{ issuer: idp.issuer, clientId: idp.clientId }]);
  scratch = await mkdtemp(join(tmpdir(), 'gatehouse-login-'));
});
after(async () => {
  await t?.close();
  await idp?.close();
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh config home (XDG_CONFIG_HOME) and the environment of a person with no token of their own. */
async function person(url = t.url): Promise<{ env: NodeJS.ProcessEnv; file: string }> {
  const home = join(scratch, `home-${++homes}`);
  await mkdir(home);
  return { env: { GATEHOUSE_URL: url, XDG_CONFIG_HOME: home, HOME: home }, file: join(home, 'gatehouse', 'credentials.json') };
}

async function stored(file: string): Promise<Record<string, { token: string; expiresAt: number; principal: string; issuer: string; savedAt: number }>> {
  return JSON.parse(await readFile(file, 'utf8')).gateways;
}

async function absent(file: string): Promise<void> {
  await assert.rejects(stat(file), { code: 'ENOENT' }, 'nothing was saved');
}

function authorizeUrlOf(output: string): URL {
  const href = /^(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m.exec(output)?.[1];
  assert.ok(href, output);
  return new URL(href);
}

/** The PKCE flow with the IdP approving for alice: no polling interval, so the fast way to a real ID token. */
async function signInWithBrowser(env: NodeJS.ProcessEnv) {
  const run = runCli(['login', '--browser', '--no-open'], env);
  const authorize = authorizeUrlOf((await run.waitFor(/\/auth\?\S+$/m)).input!);
  const page = await fetch(await idp.authorize(authorize.href, 'alice'));
  await page.arrayBuffer();
  return { page, done: await run.done };
}

describe('signing in', () => {
  test('device grant: the code is approved at the IdP; the session token is kept 0600 and later commands use it', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--device'], env);
    const [, code] = await run.waitFor(/enter the code ([A-Z0-9-]+)/);
    assert.match((await run.waitFor(/open (\S+)/))[1]!, /\/device\?user_code=/);
    await idp.approveDevice(code!, 'alice');
    const done = await run.done;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`logged in to ${t.url} as alice \\(groups: admins\\) through corp`));

    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(file, '..'))).mode & 0o777, 0o700);
    const entry = (await stored(file))[t.url]!;
    assert.match(entry.token, /^gta_/);
    assert.equal(entry.principal, 'alice');
    assert.ok(entry.expiresAt > entry.savedAt, 'kept with its expiry');
    assert.ok(!done.stdout.includes(entry.token) && !done.stderr.includes(entry.token), 'the token is never printed');
    assert.ok(!t.logs.join('').includes(entry.token), 'nor logged by the gateway');

    const listed = runCli(['--json', 'sessions', 'list'], env);
    const result = await listed.done;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Array.isArray(JSON.parse(result.stdout)));
    const whoami = await t.api('GET', '/whoami', undefined, entry.token);
    assert.equal(whoami.status, 200);
    assert.equal(whoami.json.principal.name, 'alice');
  });

  test('authorization code + PKCE on a loopback redirect (--browser --no-open), the IdP driven over HTTP', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--browser', '--no-open'], env);
    const authorize = authorizeUrlOf((await run.waitFor(/\/auth\?\S+$/m)).input!);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authorize.searchParams.get('code_challenge')!, /^[\w-]{43}$/);
    assert.ok(authorize.searchParams.get('state') && authorize.searchParams.get('nonce'));
    assert.match(authorize.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    assert.equal(authorize.searchParams.get('client_id'), idp.clientId);
    assert.deepEqual(authorize.searchParams.get('scope')!.split(' ').sort(), ['email', 'groups', 'openid', 'profile']);

    const redirect = await idp.authorize(authorize.href, 'alice');
    assert.equal(redirect.origin + redirect.pathname, authorize.searchParams.get('redirect_uri'));
    const page = await fetch(redirect);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Signed in to Gatehouse/);
    const done = await run.done;
    assert.equal(done.code, 0, done.stderr);
    const entry = (await stored(file))[t.url]!;
    assert.equal(entry.principal, 'alice');
    assert.ok(!done.stdout.includes(entry.token) && !done.stderr.includes(entry.token));
    await assert.rejects(fetch(redirect), 'the listener is gone: the same callback again finds nobody');
  });

  test('logout forgets the session; the next command has no credential', async () => {
    const { env, file } = await person();
    assert.equal((await signInWithBrowser(env)).done.code, 0);
    const out = await runCli(['logout'], env).done;
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`logged out of ${t.url}`));
    assert.deepEqual(await stored(file), {});
    const listed = await runCli(['sessions', 'list'], env).done;
    assert.equal(listed.code, 1);
    assert.match(listed.stderr, /auth_missing/);
    assert.match((await runCli(['logout'], env).done).stdout, /no saved sign-in/);
  });
});

describe('refused sign-ins save nothing', () => {
  test('a callback whose state is not this login\'s is refused; the code in it is never redeemed', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--browser', '--no-open'], env);
    const authorize = authorizeUrlOf((await run.waitFor(/\/auth\?\S+$/m)).input!);
    const redirect = await idp.authorize(authorize.href, 'alice');
    const forged = new URL(redirect);
    forged.searchParams.set('state', 'attacker-chosen-state');
    const page = await fetch(forged);
    assert.equal(page.status, 400);
    const done = await run.done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /does not belong to this login \(its state does not match\); nothing was saved/);
    await absent(file);
  });

  test('an error callback from the IdP (the person refused consent) ends the login with its reason', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--browser', '--no-open'], env);
    const authorize = authorizeUrlOf((await run.waitFor(/\/auth\?\S+$/m)).input!);
    const callback = new URL(authorize.searchParams.get('redirect_uri')!);
    callback.search = new URLSearchParams({ error: 'access_denied', error_description: 'the person said no', state: authorize.searchParams.get('state')!, iss: idp.issuer }).toString();
    assert.equal((await fetch(callback)).status, 400);
    const done = await run.done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /denied at the identity provider \(the person said no\)/);
    await absent(file);
  });

  test('a device code denied at the IdP: a clear error and exit code 1', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--device'], env);
    const [, code] = await run.waitFor(/enter the code ([A-Z0-9-]+)/);
    await denyDevice(idp, code!);
    const done = await run.done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /^gatehouse: the sign-in was denied at the identity provider.*nothing was saved$/m);
    await absent(file);
  });

  test('a device code that expires before approval (the IdP answers expired_token)', async () => {
    const expiring = await startExpiringDeviceIdp();
    const gateway = await startLoginGateway([{ issuer: expiring.issuer, clientId: expiring.clientId }]);
    try {
      const { env, file } = await person(gateway.url);
      const done = await runCli(['login', '--device'], env).done;
      assert.equal(done.code, 1);
      assert.match(done.stderr, /the code expired before it was approved; nothing was saved\. Run gatehouse login again/);
      await absent(file);
    } finally {
      await gateway.close();
      await expiring.close();
    }
  });

  test('Ctrl-C while waiting for approval stops polling and saves nothing', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--device'], env);
    await run.waitFor(/Ctrl-C cancels/);
    run.child.kill('SIGINT');
    const done = await run.done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /login cancelled; nothing was saved/);
    await absent(file);
  });

  test('Ctrl-C while the loopback listener waits closes it', async () => {
    const { env, file } = await person();
    const run = runCli(['login', '--browser', '--no-open'], env);
    const authorize = authorizeUrlOf((await run.waitFor(/\/auth\?\S+$/m)).input!);
    run.child.kill('SIGINT');
    assert.equal((await run.done).code, 1);
    await assert.rejects(fetch(authorize.searchParams.get('redirect_uri')!), 'nobody listens any more');
    await absent(file);
  });
});

describe('the kept session in later commands', () => {
  async function keep(env: NodeJS.ProcessEnv, gateways: Record<string, unknown>, mode = 0o600): Promise<string> {
    const dir = join(env.XDG_CONFIG_HOME!, 'gatehouse');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'credentials.json');
    await writeFile(file, JSON.stringify({ version: 1, gateways }), { mode });
    await chmod(file, mode);
    return file;
  }
  const entry = (token: string, expiresAt: number) => ({ token, expiresAt, principal: 'alice', issuer: 'corp', savedAt: 0 });

  test('an expired session: "run gatehouse login", code auth_expired, nothing sent', async () => {
    const { env } = await person();
    await keep(env, { [t.url]: entry(`gta_${'x'.repeat(40)}`, Date.now() - 1000) });
    const done = await runCli(['sessions', 'list'], env).done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /^gatehouse: your sign-in to .* expired at .*; run gatehouse login \(auth_expired\)$/m);
  });

  test('GATEHOUSE_TOKEN wins over a kept session', async () => {
    const { env } = await person();
    await keep(env, { [t.url]: entry(`gta_${'x'.repeat(40)}`, Date.now() - 1000) });
    const done = await runCli(['--json', 'sessions', 'list'], { ...env, GATEHOUSE_TOKEN: ADMIN_TOKEN }).done;
    assert.equal(done.code, 0, done.stderr);
  });

  test('a session kept for another gateway is never sent to this one', async () => {
    const { env } = await person();
    await keep(env, { 'http://127.0.0.1:1': entry(ADMIN_TOKEN, Date.now() + 3600_000) });
    const done = await runCli(['sessions', 'list'], env).done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /auth_missing/, 'no bearer at all, not a wrong one');
  });

  test('the same gateway written another way (trailing slash, upper-case host) finds its session', async () => {
    const { env } = await person();
    await keep(env, { [t.url]: entry(ADMIN_TOKEN, Date.now() + 3600_000) });
    const done = await runCli(['--json', 'sessions', 'list'], { ...env, GATEHOUSE_URL: `${t.url.replace('http://', 'HTTP://')}/` }).done;
    assert.equal(done.code, 0, done.stderr);
  });

  test('a credentials file other users can read is refused, with the fix', async () => {
    const { env } = await person();
    const file = await keep(env, { [t.url]: entry(ADMIN_TOKEN, Date.now() + 3600_000) }, 0o644);
    const done = await runCli(['sessions', 'list'], env).done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, new RegExp(`can be read by other users \\(mode 644\\); run chmod 600 ${file}`));
  });

  test('a damaged credentials file is reported, not guessed at', async () => {
    const { env } = await person();
    const file = await keep(env, {});
    await writeFile(file, '{"version":1,"gateways":{"x":{"token":"gta_\\r\\nX-Injected: 1"', { mode: 0o600 });
    const done = await runCli(['sessions', 'list'], env).done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /not a credentials file this version understands; remove it and run gatehouse login/);
  });
});

/** A gateway that answers what a test tells it to: the hostile side of the login. */
async function fakeGateway(answer: (path: string, body: any) => { status: number; json: unknown }): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const { status, json } = answer(req.url ?? '', text ? JSON.parse(text) : undefined);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('a gateway whose answers would mislead the login', () => {
  const issuer = (over: Record<string, unknown> = {}) => ({ name: 'corp', issuer: idp.issuer, clientId: idp.clientId, scopes: ['openid'], ...over });
  const configCases: Array<[string, () => unknown, RegExp, string[]?]> = [
    ['an http issuer off this machine', () => ({ issuers: [issuer({ issuer: 'http://idp.example.com' })] }), /at http:\/\/idp\.example\.com, which is not https; refusing/],
    ['an issuer with a password in its address', () => ({ issuers: [issuer({ issuer: 'https://u:p@idp.example.com' })] }), /credentials, a query or a fragment/],
    ['a javascript: issuer', () => ({ issuers: [issuer({ issuer: 'javascript:alert(1)' })] }), /not https/],
    ['an issuer name carrying terminal escapes', () => ({ issuers: [issuer({ name: 'corp\u001b[2J' })] }), /sign-in configuration this CLI cannot use/],
    ['a scope with a space (two scopes smuggled in one)', () => ({ issuers: [issuer({ scopes: ['openid offline_access'] })] }), /cannot use/],
    ['a client id with a newline', () => ({ issuers: [issuer({ clientId: 'cli\nX: y' })] }), /cannot use/],
    ['no issuers list at all', () => ({ nope: true }), /cannot use/],
    ['no issuer configured', () => ({ issuers: [] }), /no identity provider to sign in with \(identity\.oidc\.issuers/],
    ['several issuers and no --issuer', () => ({ issuers: [issuer(), issuer({ name: 'other' })] }), /several identity providers; choose one with --issuer \(corp, other\)/],
    ['an --issuer it does not have', () => ({ issuers: [issuer()] }), /no issuer named "nope" \(it has: corp\)/, ['--issuer', 'nope']],
  ];
  for (const [name, config, message, extra] of configCases) {
    test(`refused before any IdP is contacted: ${name}`, async () => {
      const gw = await fakeGateway(() => ({ status: 200, json: config() }));
      try {
        const { env, file } = await person(gw.url);
        const done = await runCli(['login', '--device', ...(extra ?? [])], env).done;
        assert.equal(done.code, 1);
        assert.match(done.stderr, message);
        assert.doesNotMatch(done.stderr, /\u001b/);
        assert.deepEqual(gw.seen, ['GET /api/v1/login/config']);
        await absent(file);
      } finally {
        await gw.close();
      }
    });
  }

  test('an issuer whose discovery document names another issuer (mix-up) is refused', async () => {
    let self = '';
    const gw = await fakeGateway((path) =>
      path === '/.well-known/openid-configuration'
        ? { status: 200, json: { issuer: idp.issuer, device_authorization_endpoint: `${idp.issuer}/device/auth`, token_endpoint: `${idp.issuer}/token` } }
        : { status: 200, json: { issuers: [issuer({ issuer: self })] } },
    );
    self = gw.url;
    try {
      const { env, file } = await person(gw.url);
      const done = await runCli(['login', '--device'], env).done;
      assert.equal(done.code, 1);
      assert.match(done.stderr, /cannot discover the identity provider corp/);
      await absent(file);
    } finally {
      await gw.close();
    }
  });

  test('a plain-http gateway off this machine is refused before anything is sent', async () => {
    const { env } = await person('http://gatehouse.invalid:8080');
    const done = await runCli(['login'], env).done;
    assert.equal(done.code, 1);
    assert.match(done.stderr, /needs https \(GATEHOUSE_URL is http:\/\/gatehouse\.invalid:8080\)/);
  });

  // Each needs a real ID token, so the IdP signs alice in first.
  const answers: Array<[string, (idToken: string) => { status: number; json: unknown }, RegExp]> = [
    ['an error that echoes the ID token back', (idToken) => ({ status: 401, json: { error: { code: 'auth_invalid', message: `bad token ${idToken}` } } }), /the gateway refused the sign-in: bad token \[ID token\] \(auth_invalid\)/],
    ['a token with a header injection in it', () => ({ status: 201, json: { token: 'gta_abcdefghij\r\nX-Evil: 1', expiresAt: Date.now() + 60_000, principal: { name: 'alice', groups: [] } } }), /cannot use; nothing was saved/],
    ['a token of another kind', () => ({ status: 201, json: { token: 'gth_abcdefghijklmnop', expiresAt: Date.now() + 60_000, principal: { name: 'alice', groups: [] } } }), /cannot use; nothing was saved/],
    ['a session that has already expired', () => ({ status: 201, json: { token: `gta_${'a'.repeat(40)}`, expiresAt: Date.now() - 1, principal: { name: 'alice', groups: [] } } }), /cannot use; nothing was saved/],
  ];
  for (const [name, respond, message] of answers) {
    test(`nothing saved, no token printed: ${name}`, async () => {
      let idToken = '';
      const gw = await fakeGateway((path, body) => {
        if (path === '/api/v1/login/config') return { status: 200, json: { issuers: [issuer()] } };
        idToken = body.idToken;
        return respond(idToken);
      });
      try {
        const { env, file } = await person(gw.url);
        const { page, done } = await signInWithBrowser(env);
        assert.equal(page.status, 400, 'the browser is told the sign-in did not complete');
        assert.equal(done.code, 1);
        assert.match(done.stderr, message);
        assert.match(idToken, /^eyJ/, 'the gateway did receive an ID token');
        assert.ok(!done.stdout.includes(idToken) && !done.stderr.includes(idToken), 'the ID token is never printed');
        assert.ok(!done.stderr.includes('X-Evil'));
        await absent(file);
      } finally {
        await gw.close();
      }
    });
  }
});

test('--help explains both ways to sign in and where the session is kept', async () => {
  const done = await runCli(['login', '--help'], {}).done;
  assert.equal(done.code, 0);
  for (const words of ['--device', '--browser', '--no-open', '--issuer', 'PKCE', 'device authorization', '127.0.0.1', 'credentials.json', '0600', 'GATEHOUSE_TOKEN', 'logout']) {
    assert.ok(done.stdout.includes(words), `--help mentions ${words}`);
  }
});
