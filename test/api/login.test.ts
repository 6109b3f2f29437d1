/**
 * POST /api/v1/login/oidc and GET /api/v1/login/config through a real gateway, against a real
 * OpenID Connect provider on loopback: sign-in, groups kept up to date, key rotation mid-session,
 * every refusal with its code, and no token in any log line.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';

const CLIENT_SECRET = `never-shown-${randomBytes(8).toString('hex')}`;

async function start(t: TestContext): Promise<{ gw: TestGateway; idp: TestOidcProvider; sent: string[] }> {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  idp.setAccount('alice', { email: 'alice@example.com', email_verified: true, groups: ['eng'] });
  const gw = await startTestGateway({
    extraYaml: `
identity:
  roles:
    - group: eng
      role: auditor
    - group: ops
      role: auditor
  oidc:
    issuers:
      - name: test
        issuer: ${idp.issuer}
        clientId: ${idp.clientId}
        clientSecret: ${CLIENT_SECRET}
        usernameClaim: email
        scopes: [openid, email, groups]
      - name: strict
        issuer: ${idp.issuer}
        clientId: ${idp.clientId}
        usernameClaim: upn
    sessionTtl: 1h
    clockSkew: 30s
`,
  });
  t.after(() => gw.close());
  return { gw, idp, sent: [] };
}

async function login(gw: TestGateway, sent: string[], idToken: string, issuer = 'test') {
  sent.push(idToken);
  const res = await fetch(`${gw.url}/api/v1/login/oidc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ issuer, idToken }),
  });
  const json = (await res.json()) as any;
  return { status: res.status, json, code: res.headers.get('x-gatehouse-error') };
}

async function whoami(gw: TestGateway, token: string) {
  const res = await fetch(`${gw.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: (await res.json()) as any };
}

/** Claims valid now for the test client. */
function claims(idp: TestOidcProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['eng'], aud: idp.clientId, iat: now, exp: now + 300, ...extra };
}

/** The whole authorization-code flow with PKCE, as `gatehouse login` runs it; returns the ID token. */
async function pkceIdToken(idp: TestOidcProvider): Promise<string> {
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  const verifier = randomBytes(32).toString('base64url');
  const redirectUri = 'http://127.0.0.1:53682/callback';
  const url = new URL(discovery.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: idp.clientId,
    response_type: 'code',
    scope: 'openid email groups',
    redirect_uri: redirectUri,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  const landed = await idp.authorize(url.href, 'alice');
  const res = await fetch(discovery.token_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: landed.searchParams.get('code')!, redirect_uri: redirectUri, client_id: idp.clientId, code_verifier: verifier }),
  });
  const tokens = (await res.json()) as { id_token: string };
  assert.equal(res.status, 200);
  return tokens.id_token;
}

test('GET /login/config is public and shows what a client needs, never the client secret', async (t) => {
  const { gw, idp } = await start(t);
  const res = await fetch(`${gw.url}/api/v1/login/config`);
  const text = await res.text();
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(text), {
    issuers: [
      { name: 'test', issuer: idp.issuer, clientId: idp.clientId, scopes: ['openid', 'email', 'groups'] },
      { name: 'strict', issuer: idp.issuer, clientId: idp.clientId, scopes: ['openid', 'profile', 'email'] },
    ],
  });
  assert.doesNotMatch(text, new RegExp(CLIENT_SECRET));
});

test('an ID token from a real PKCE sign-in buys an API token; groups follow the provider on each sign-in', async (t) => {
  const { gw, idp, sent } = await start(t);
  const first = await login(gw, sent, await pkceIdToken(idp));
  assert.equal(first.status, 201, JSON.stringify(first.json));
  assert.match(first.json.token, /^gta_[A-Za-z0-9]{40}$/);
  assert.deepEqual(first.json.principal, { name: 'alice@example.com', groups: ['eng'] });
  assert.ok(first.json.expiresAt > 0);

  const me = await whoami(gw, first.json.token);
  assert.equal(me.status, 200, JSON.stringify(me.json));
  assert.equal(me.json.principal.kind, 'user');
  assert.equal(me.json.principal.name, 'alice@example.com');
  assert.deepEqual(me.json.roles, ['auditor']);

  // The provider moves alice to ops: the next sign-in says so, and the principal (not a second one) follows.
  idp.setAccount('alice', { email: 'alice@example.com', email_verified: true, groups: ['ops'] });
  const second = await login(gw, sent, await idp.idToken('alice'));
  assert.equal(second.status, 201);
  assert.deepEqual(second.json.principal, { name: 'alice@example.com', groups: ['ops'] });
  assert.deepEqual((await whoami(gw, first.json.token)).json.principal.groups, ['ops']);
  const users = (await gw.gateway.store.listPrincipals()).filter((p) => p.name === 'alice@example.com');
  assert.equal(users.length, 1);

  // Each sign-in is an audit event of hers, naming the issuer and subject, never the token.
  const signIns = (await gw.api('GET', '/audit/events?action=loginWithOidc')).json.events;
  assert.equal(signIns.length, 2);
  for (const event of signIns) {
    assert.equal(event.actorName, 'alice@example.com');
    assert.equal(event.actorKind, 'user');
    assert.equal(event.outcome, 201);
    assert.equal(event.details.issuer, 'test');
    assert.ok(!JSON.stringify(event).includes(first.json.token) && !JSON.stringify(event).includes(second.json.token));
  }
  assert.deepEqual(signIns.map((e: any) => e.details.groups), [['ops'], ['eng']]);

  const tokenLines = gw.logs.filter((line) => line.includes('"event":"oidc.login"'));
  assert.equal(tokenLines.length, 2);
  for (const jwt of [...sent, first.json.token, second.json.token]) {
    for (const line of gw.logs) assert.ok(!line.includes(jwt) && !line.includes(jwt.split('.').pop()!), 'no token in any log line');
  }
});

test('the provider rotates its keys mid-session: the API token keeps working, the new key signs in, a removed key is refused', async (t) => {
  const { gw, idp, sent } = await start(t);
  const before = await login(gw, sent, await idp.idToken('alice'));
  assert.equal(before.status, 201);
  const oldKid = idp.currentKid;

  await idp.rotateKeys({ keepOld: false });
  assert.equal((await whoami(gw, before.json.token)).status, 200, 'the session outlives the key that signed its ID token');
  const after = await login(gw, sent, await idp.idToken('alice'));
  assert.equal(after.status, 201, JSON.stringify(after.json));
  const removed = await login(gw, sent, await idp.sign({ ...claims(idp) }, { kid: oldKid }));
  assert.equal(removed.status, 401);
  assert.equal(removed.code, 'auth_unknown_key');
});

test('every refusal has its own code, and neither the ID token nor any part of it reaches a log line', async (t) => {
  const { gw, idp, sent } = await start(t);
  const now = Math.floor(Date.now() / 1000);
  const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: Record<string, string>[] };
  const publicPem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const hsInput = `${b64({ alg: 'HS256', kid: idp.currentKid })}.${b64({ ...claims(idp), iss: idp.issuer })}`;
  const attacker = await generateKeyPair('RS256');

  const cases: [string, string | (() => Promise<string>), string, number, string?][] = [
    ['expired', () => idp.sign(claims(idp, { iat: now - 3600, exp: now - 600 })), 'auth_expired', 401],
    ['not yet valid', () => idp.sign(claims(idp, { nbf: now + 600 })), 'auth_not_yet_valid', 401],
    ['wrong audience', () => idp.sign(claims(idp, { aud: 'some-other-app' })), 'auth_wrong_audience', 401],
    ['an issuer the token does not come from', () => idp.sign(claims(idp, { iss: 'https://login.example.com' })), 'auth_unknown_issuer', 401],
    ['an issuer name that is not configured', () => idp.idToken('alice'), 'auth_unknown_issuer', 401, 'okta'],
    ['a forged signature', () => new SignJWT({ ...claims(idp), iss: idp.issuer }).setProtectedHeader({ alg: 'RS256', kid: idp.currentKid }).sign(attacker.privateKey), 'auth_bad_signature', 401],
    ['alg none', async () => `${b64({ alg: 'none' })}.${b64({ ...claims(idp), iss: idp.issuer })}.`, 'auth_alg_refused', 401],
    ['HS256 keyed with the public key', async () => `${hsInput}.${createHmac('sha256', publicPem).update(hsInput).digest('base64url')}`, 'auth_alg_refused', 401],
    ['no username claim (usernameClaim: upn)', () => idp.idToken('alice'), 'auth_claim_missing', 401, 'strict'],
    ['a username claim that is not text', () => idp.sign(claims(idp, { email: ['alice@example.com'] })), 'auth_claim_missing', 401],
    ['groups that are not names', () => idp.sign(claims(idp, { groups: [{ name: 'admins' }] })), 'auth_invalid', 401],
    ['not a JWT at all', async () => 'gta_not-a-jwt', 'auth_invalid', 401],
  ];
  for (const [name, make, code, status, issuer] of cases) {
    const token = typeof make === 'string' ? make : await make();
    const res = await login(gw, sent, token, issuer);
    assert.equal(res.status, status, `${name}: ${JSON.stringify(res.json)}`);
    assert.equal(res.code, code, name);
    assert.equal(res.json.error.code, code, name);
    assert.ok(!JSON.stringify(res.json).includes(token), `${name}: the answer does not echo the token`);
  }

  // A disabled person is refused whatever the provider says, and gets no token.
  const ok = await login(gw, sent, await idp.idToken('alice'));
  assert.equal(ok.status, 201);
  const user = (await gw.gateway.store.findPrincipal('user', 'alice@example.com'))!;
  await gw.gateway.store.disablePrincipal(user.id, Date.now());
  const tokensBefore = (await gw.gateway.store.listTokens({ principalId: user.id, includeRevoked: true, includeExpired: true, now: Date.now() })).length;
  // A fresh ID token (its nonce differs), so that the refusal is about the person and not a replay.
  const disabled = await login(gw, sent, await idp.idToken('alice', { nonce: 'after-disable' }));
  assert.equal(disabled.status, 401);
  assert.equal(disabled.code, 'auth_revoked');
  const tokensAfter = (await gw.gateway.store.listTokens({ principalId: user.id, includeRevoked: true, includeExpired: true, now: Date.now() })).length;
  assert.equal(tokensAfter, tokensBefore, 'no token was issued to the disabled user');

  // Each refusal is logged, with its code, and none of what was sent.
  const refusals = gw.logs.filter((line) => line.includes('"event":"oidc.login_refused"'));
  assert.equal(refusals.length, cases.length + 1);
  assert.ok(refusals.some((line) => line.includes('"code":"auth_alg_refused"')));
  for (const jwt of sent) {
    const parts = jwt.split('.').filter((part) => part.length > 16);
    for (const line of gw.logs) {
      assert.ok(!line.includes(jwt), 'the JWT is in a log line');
      for (const part of parts) assert.ok(!line.includes(part), 'a part of the JWT is in a log line');
    }
  }
});

test('an issuer that cannot be reached does not stop the gateway; its sign-ins are refused as unavailable', async (t) => {
  // A loopback port with nothing listening: taken, then released.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const gw = await startTestGateway({
    extraYaml: `
identity:
  oidc:
    issuers:
      - name: down
        issuer: http://127.0.0.1:${port}
        clientId: gatehouse
`,
  });
  t.after(() => gw.close());
  assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  const res = await login(gw, [], await idp.sign({ ...claims(idp), iss: `http://127.0.0.1:${port}`, aud: 'gatehouse' }), 'down');
  assert.equal(res.status, 503);
  assert.equal(res.code, 'auth_issuer_unavailable');
  assert.ok(gw.logs.some((line) => line.includes('OIDC issuer discovery failed') && line.includes('the gateway keeps running')));
});

test('malformed login requests are refused before anything is verified', async (t) => {
  const { gw } = await start(t);
  const post = (body: string, type = 'application/json') =>
    fetch(`${gw.url}/api/v1/login/oidc`, { method: 'POST', headers: { 'content-type': type }, body });
  const cases: [string, string][] = [
    ['{}', 'invalid_argument'],
    ['{"issuer":"test"}', 'invalid_argument'],
    ['{"issuer":"test","idToken":42}', 'invalid_argument'],
    ['{"issuer":"test","idToken":"a.b.c","extra":1}', 'invalid_argument'],
    [`{"issuer":"test","idToken":"${'a'.repeat(70_000)}"}`, 'invalid_argument'],
    ['not json', 'bad_request'],
  ];
  for (const [body, code] of cases) {
    const res = await post(body);
    assert.equal(res.headers.get('x-gatehouse-error'), code, body.slice(0, 60));
  }
});
