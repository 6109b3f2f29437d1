/**
 * Who an OIDC sign-in becomes, through a real gateway and real providers on loopback: an account is
 * linked to its principal by (issuer, sub), so a second issuer asserting someone's user name gets
 * nothing of theirs; each ID token signs in once (on any replica), and only while fresh; `azp` is
 * required among several audiences; an unverified email never names anyone; SCIM's groups win.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { startLoginGateway } from '../support/oidc-login-driver.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';
import { GROUP, PATCH_OP, USER } from './scim-fixtures.ts';

interface Setup {
  gw: TestGateway;
  corp: TestOidcProvider;
  partner: TestOidcProvider;
}

async function start(t: TestContext, extraYaml = ''): Promise<Setup> {
  const corp = await startOidcProvider();
  t.after(() => corp.close());
  const partner = await startOidcProvider();
  t.after(() => partner.close());
  const gw = await startLoginGateway(
    [
      { issuer: corp.issuer, clientId: corp.clientId },
      { issuer: partner.issuer, clientId: partner.clientId, name: 'partner' },
    ],
    { extraYaml: `    - group: eng\n      role: user\n      connections: [openai]\n${extraYaml}` },
  );
  t.after(() => gw.close());
  return { gw, corp, partner };
}

async function login(gw: TestGateway, issuer: string, idToken: string) {
  const res = await fetch(`${gw.url}/api/v1/login/oidc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ issuer, idToken }),
  });
  return { status: res.status, json: (await res.json()) as any, code: res.headers.get('x-gatehouse-error') };
}

/** An ID token the provider issues; the nonce makes each one a new token. */
const fresh = (idp: TestOidcProvider, subject: string) => idp.idToken(subject, { nonce: randomUUID() });

function claims(idp: TestOidcProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub: `sub-${randomUUID()}`, aud: idp.clientId, iat: now, exp: now + 300, jti: randomUUID(), ...extra };
}

async function scim(gw: TestGateway, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${gw.url}/scim/v2${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/scim+json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

test('a second issuer asserting an existing person\'s user name is refused: no token, no change to them', async (t) => {
  const { gw, corp, partner } = await start(t);
  corp.setAccount('alice-sub', { preferred_username: 'alice@corp.com', groups: ['admins'] });
  const alice = await login(gw, 'corp', await fresh(corp, 'alice-sub'));
  assert.equal(alice.status, 201, JSON.stringify(alice.json));

  partner.setAccount('evil-sub', { preferred_username: 'alice@corp.com', groups: [] });
  const impostor = await login(gw, 'partner', await fresh(partner, 'evil-sub'));
  assert.equal(impostor.status, 403, JSON.stringify(impostor.json));
  assert.equal(impostor.code, 'auth_identity_conflict');
  assert.equal(impostor.json.token, undefined);
  assert.match(impostor.json.error.message, /admin must link/);
  // In other letter case too, and from another account of alice's own issuer.
  partner.setAccount('evil-sub', { preferred_username: 'ALICE@corp.com', groups: [] });
  assert.equal((await login(gw, 'partner', await fresh(partner, 'evil-sub'))).code, 'auth_identity_conflict');
  corp.setAccount('mallory-sub', { preferred_username: 'alice@corp.com', groups: [] });
  assert.equal((await login(gw, 'corp', await fresh(corp, 'mallory-sub'))).code, 'auth_identity_conflict');

  const users = (await gw.api('GET', '/users')).json.users.filter((u: any) => u.name.toLowerCase() === 'alice@corp.com');
  assert.equal(users.length, 1);
  assert.deepEqual(users[0].groups, ['admins'], 'the refused sign-ins did not touch her groups');
  assert.equal((await gw.api('GET', '/whoami', undefined, alice.json.token)).json.principal.name, 'alice@corp.com');
  const refusals = gw.logs.filter((line) => line.includes('"event":"oidc.login_refused"') && line.includes('auth_identity_conflict'));
  assert.equal(refusals.length, 3);

  // Alice herself, renamed at her provider, still reaches her own principal (the link, not the name).
  corp.setAccount('alice-sub', { preferred_username: 'alice.smith@corp.com', groups: ['admins'] });
  const again = await login(gw, 'corp', await fresh(corp, 'alice-sub'));
  assert.equal(again.status, 201);
  assert.equal(again.json.principal.name, 'alice@corp.com');
});

test('a partner account with a new name gets a principal of its own, never anyone else\'s roles', async (t) => {
  const { gw, corp, partner } = await start(t);
  corp.setAccount('alice-sub', { preferred_username: 'alice', groups: ['admins'] });
  assert.equal((await login(gw, 'corp', await fresh(corp, 'alice-sub'))).status, 201);
  partner.setAccount('p-sub', { preferred_username: 'pat', groups: ['eng'] });
  const pat = await login(gw, 'partner', await fresh(partner, 'p-sub'));
  assert.equal(pat.status, 201);
  const me = await gw.api('GET', '/whoami', undefined, pat.json.token);
  assert.equal(me.json.principal.name, 'pat');
  assert.deepEqual(me.json.roles, ['user']);
});

test('SCIM and `tokens --for` principals are claimed by the first sign-in of their name in any letter case; SCIM then decides', async (t) => {
  const { gw, corp } = await start(t);
  const gsc = (await gw.api('POST', '/scim/tokens', { name: 'okta' })).json.token as string;
  const created = await scim(gw, gsc, 'POST', '/Users', { schemas: [USER], userName: 'carol@corp.com', active: true });
  assert.equal(created.status, 201, JSON.stringify(created.json));

  corp.setAccount('carol-sub', { preferred_username: 'Carol@corp.com', groups: ['eng'] });
  const carol = await login(gw, 'corp', await fresh(corp, 'carol-sub'));
  assert.equal(carol.status, 201, JSON.stringify(carol.json));
  assert.deepEqual(carol.json.principal, { name: 'carol@corp.com', groups: [] }, 'SCIM gave her no group; the ID token\'s are ignored');
  const people = (await gw.api('GET', '/users')).json.users.filter((u: any) => u.name.toLowerCase() === 'carol@corp.com');
  assert.deepEqual(people.map((u: any) => u.id), [created.json.id], 'one person, not two');

  // Deactivated over SCIM: her sign-in is refused.
  const off = await scim(gw, gsc, 'PATCH', `/Users/${created.json.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  assert.equal(off.status, 200);
  const refused = await login(gw, 'corp', await fresh(corp, 'carol-sub'));
  assert.equal(refused.code, 'auth_revoked');

  // A person an admin gave a token to before they ever signed in.
  await gw.token({ user: 'dave', groups: ['eng'] });
  corp.setAccount('dave-sub', { preferred_username: 'Dave', groups: ['eng'] });
  const dave = await login(gw, 'corp', await fresh(corp, 'dave-sub'));
  assert.equal(dave.status, 201);
  assert.equal(dave.json.principal.name, 'dave');
});

test('a group SCIM removed is not brought back by signing in again, with the old ID token or a new one', async (t) => {
  const { gw, corp } = await start(t);
  corp.setAccount('bob-sub', { preferred_username: 'bob', groups: ['admins'] });
  const oldIdToken = await fresh(corp, 'bob-sub');
  assert.equal((await login(gw, 'corp', oldIdToken)).status, 201);

  const gsc = (await gw.api('POST', '/scim/tokens', { name: 'okta' })).json.token as string;
  const bob = await scim(gw, gsc, 'POST', '/Users', { schemas: [USER], userName: 'bob', active: true });
  const admins = await scim(gw, gsc, 'POST', '/Groups', { schemas: [GROUP], displayName: 'admins', members: [{ value: bob.json.id }] });
  const removed = await scim(gw, gsc, 'PATCH', `/Groups/${admins.json.id}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'remove', path: `members[value eq "${bob.json.id}"]` }],
  });
  assert.equal(removed.status, 200, JSON.stringify(removed.json));

  const replayed = await login(gw, 'corp', oldIdToken);
  assert.equal(replayed.status, 401);
  assert.equal(replayed.code, 'auth_replayed');
  // The provider's (stale) claim still lists admins: SCIM manages bob, so it is ignored.
  const again = await login(gw, 'corp', await fresh(corp, 'bob-sub'));
  assert.equal(again.status, 201);
  assert.deepEqual(again.json.principal.groups, []);
  const asAdmin = await gw.api('GET', '/users', undefined, again.json.token);
  assert.equal(asAdmin.status, 403, 'no longer an admin');
});

test('an ID token signs in once, on any replica, in any of the encodings that verify', async (t) => {
  const { gw, corp } = await start(t);
  corp.setAccount('erin-sub', { preferred_username: 'erin', groups: ['eng'] });
  const idToken = await fresh(corp, 'erin-sub');
  const first = await login(gw, 'corp', idToken);
  assert.equal(first.status, 201);
  const second = await login(gw, 'corp', idToken);
  assert.equal(second.status, 401);
  assert.equal(second.code, 'auth_replayed');
  assert.equal(second.json.token, undefined);

  // The spare low bits of the signature's last base64url character change the text, not the token.
  const sig = idToken.slice(idToken.lastIndexOf('.') + 1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(sig.at(-1)!);
  assert.ok((sig.length * 6) % 8 >= 2, 'an RS256 signature (256 bytes) leaves spare bits in its last character');
  const variant = `${idToken.slice(0, -1)}${alphabet[last ^ 1]}`;
  assert.equal((await login(gw, 'corp', variant)).code, 'auth_replayed');

  // Another replica on the same store.
  const replica = await startTestGateway({ dir: gw.dir, masterKey: gw.masterKey, extraYaml: gw.configText.slice(gw.configText.indexOf('identity:')) });
  t.after(() => replica.close());
  assert.equal((await login(replica, 'corp', idToken)).code, 'auth_replayed');
  // And a new token from the provider is fine there.
  assert.equal((await login(replica, 'corp', await fresh(corp, 'erin-sub'))).status, 201);
});

test('an ECDSA signature\'s twin (s replaced by n - s) is the same ID token', async (t) => {
  const ec = await startOidcProvider({ alg: 'ES256' });
  t.after(() => ec.close());
  const gw = await startLoginGateway([{ issuer: ec.issuer, clientId: ec.clientId }]);
  t.after(() => gw.close());
  ec.setAccount('fay-sub', { preferred_username: 'fay' });
  const idToken = await fresh(ec, 'fay-sub');
  assert.equal((await login(gw, 'corp', idToken)).status, 201);
  const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const raw = Buffer.from(idToken.slice(idToken.lastIndexOf('.') + 1), 'base64url');
  const s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  const twin = Buffer.concat([raw.subarray(0, 32), Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')]);
  const forged = `${idToken.slice(0, idToken.lastIndexOf('.'))}.${twin.toString('base64url')}`;
  const res = await login(gw, 'corp', forged);
  assert.equal(res.status, 401);
  assert.equal(res.code, 'auth_replayed');
});

test('two tokens with one jti: the second is a replay; a token only differing in iat is new', async (t) => {
  const { gw, corp } = await start(t);
  const sub = `sub-${randomUUID()}`;
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { sub, jti, iat: now })))).status, 201);
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { sub, jti, iat: now - 1 })))).code, 'auth_replayed');
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { sub, iat: now - 2, jti: undefined })))).status, 201);
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { sub, iat: now - 3, jti: undefined })))).status, 201);
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { sub, iat: now - 3, jti: undefined })))).code, 'auth_replayed', 'without a jti, the signed part names the token');
});

test('an ID token issued longer ago than maxTokenAge is refused, whatever its exp', async (t) => {
  const corp = await startOidcProvider();
  t.after(() => corp.close());
  const gw = await startLoginGateway([{ issuer: corp.issuer, clientId: corp.clientId }], { extraYaml: '' });
  t.after(() => gw.close());
  const now = Math.floor(Date.now() / 1000);
  const yearOld = await login(gw, 'corp', await corp.sign(claims(corp, { iat: now - 365 * 86400, exp: now + 10 * 365 * 86400 })));
  assert.equal(yearOld.status, 401);
  assert.equal(yearOld.code, 'auth_expired');
  // Default 10m, with the 60s skew.
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { iat: now - 12 * 60 })))).code, 'auth_expired');
  assert.equal((await login(gw, 'corp', await corp.sign(claims(corp, { iat: now - 9 * 60 })))).status, 201);

  const short = await startTestGateway({
    extraYaml: `
identity:
  oidc:
    issuers:
      - name: corp
        issuer: ${corp.issuer}
        clientId: ${corp.clientId}
    maxTokenAge: 2m
`,
  });
  t.after(() => short.close());
  assert.equal((await login(short, 'corp', await corp.sign(claims(corp, { iat: now - 4 * 60 })))).code, 'auth_expired');
  assert.equal((await login(short, 'corp', await corp.sign(claims(corp, { iat: now - 60 })))).status, 201);
});

test('among several audiences, azp must name this client', async (t) => {
  const corp = await startOidcProvider();
  t.after(() => corp.close());
  const gw = await startLoginGateway([{ issuer: corp.issuer, clientId: corp.clientId }]);
  t.after(() => gw.close());
  const cases: [string, Record<string, unknown>, number, string | null][] = [
    ['several audiences, no azp', { aud: ['other-client', corp.clientId] }, 401, 'auth_wrong_audience'],
    ['several audiences, azp another client', { aud: ['other-client', corp.clientId], azp: 'other-client' }, 401, 'auth_wrong_audience'],
    ['several audiences, azp an empty string', { aud: ['other-client', corp.clientId], azp: '' }, 401, 'auth_wrong_audience'],
    ['several audiences, azp as a list', { aud: ['other-client', corp.clientId], azp: [corp.clientId] }, 401, 'auth_wrong_audience'],
    ['several audiences, azp this client', { aud: ['other-client', corp.clientId], azp: corp.clientId }, 201, null],
    ['one audience in a list, no azp', { aud: [corp.clientId] }, 201, null],
    ['our client twice, no azp', { aud: [corp.clientId, corp.clientId] }, 201, null],
    ['one audience, no azp', { aud: corp.clientId }, 201, null],
    ['one audience, azp another client', { aud: corp.clientId, azp: 'other-client' }, 401, 'auth_wrong_audience'],
  ];
  for (const [name, extra, status, code] of cases) {
    const res = await login(gw, 'corp', await corp.sign(claims(corp, extra)));
    assert.equal(res.status, status, `${name}: ${JSON.stringify(res.json)}`);
    assert.equal(res.code, code, name);
  }
});

test('an email names a person only when email_verified is true', async (t) => {
  const corp = await startOidcProvider();
  t.after(() => corp.close());
  const gw = await startTestGateway({
    extraYaml: `
identity:
  oidc:
    issuers:
      - name: corp
        issuer: ${corp.issuer}
        clientId: ${corp.clientId}
      - name: by-email
        issuer: ${corp.issuer}
        clientId: ${corp.clientId}
        usernameClaim: email
`,
  });
  t.after(() => gw.close());
  const cases: [string, Record<string, unknown>, string][] = [
    ['email_verified false', { email_verified: false }, 'sub'],
    ['email_verified absent', {}, 'sub'],
    ['email_verified the string "true"', { email_verified: 'true' }, 'sub'],
    ['email_verified 1', { email_verified: 1 }, 'sub'],
    ['email_verified true', { email_verified: true }, 'email'],
  ];
  for (const [name, extra, expected] of cases) {
    const sub = `sub-${randomUUID()}`;
    const email = `${randomUUID().slice(0, 8)}@corp.com`;
    const res = await login(gw, 'corp', await corp.sign(claims(corp, { sub, email, ...extra })));
    assert.equal(res.status, 201, name);
    assert.equal(res.json.principal.name, expected === 'email' ? email : sub, name);
    const configured = await login(gw, 'by-email', await corp.sign(claims(corp, { sub, email, ...extra })));
    if (expected === 'email') assert.equal(configured.status, 201, name);
    else assert.equal(configured.code, 'auth_claim_missing', `${name} (usernameClaim: email)`);
  }
});

test('a subject the store could not key is refused as not usable', async (t) => {
  const corp = await startOidcProvider();
  t.after(() => corp.close());
  const gw = await startLoginGateway([{ issuer: corp.issuer, clientId: corp.clientId }]);
  t.after(() => gw.close());
  for (const [name, sub] of [
    ['a NUL', 'alice\u0000'],
    ['a newline', 'alice\nadmin'],
    ['600 characters', 'x'.repeat(600)],
  ] as const) {
    const res = await login(gw, 'corp', await corp.sign(claims(corp, { sub, preferred_username: `u-${randomUUID()}` })));
    assert.equal(res.status, 401, name);
    assert.equal(res.code, 'auth_invalid', name);
  }
});
