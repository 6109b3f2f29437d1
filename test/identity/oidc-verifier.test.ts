/**
 * The ID-token verifier against a real OpenID Connect provider on loopback: what it accepts, every
 * refusal with its own code, key rotation, and hostile tokens. The clock is injected (`now`), so
 * lifetimes are checked at exact instants and nothing waits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, createHmac, KeyObject, sign as nodeSign } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import pino from 'pino';
import { IssuerKeys } from '../../src/identity/oidc/issuer-keys.ts';
import { MAX_JWT_LENGTH, verifyJwt, type VerifyExpectations } from '../../src/identity/oidc/jwt-verifier.ts';
import { GatewayError } from '../../src/errors.ts';
import { startOidcProvider, type TestOidcProvider } from '../support/oidc-provider.ts';

const silent = pino({ level: 'silent' });
const SKEW_MS = 60_000;

interface Setup {
  idp: TestOidcProvider;
  keys: IssuerKeys;
  clock: { ms: number };
  expect: () => VerifyExpectations;
  verify: (token: string, overrides?: Partial<VerifyExpectations>) => ReturnType<typeof verifyJwt>;
  /** Claims valid at the injected clock, for the test client. */
  claims: (extra?: Record<string, unknown>) => Record<string, unknown>;
}

async function setup(t: { after: (fn: () => unknown) => void }): Promise<Setup> {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  const clock = { ms: Date.now() };
  const keys = new IssuerKeys(idp.issuer, undefined, silent, { now: () => clock.ms, refetchCooldownMs: 10_000 });
  const expect = (): VerifyExpectations => ({
    issuer: idp.issuer,
    audiences: [idp.clientId],
    clockSkewMs: SKEW_MS,
    now: clock.ms,
    authorizedParty: idp.clientId,
  });
  const seconds = () => Math.floor(clock.ms / 1000);
  return {
    idp,
    keys,
    clock,
    expect,
    verify: (token, overrides = {}) => verifyJwt(token, keys, { ...expect(), ...overrides }),
    claims: (extra = {}) => ({ iss: idp.issuer, sub: 'alice', aud: idp.clientId, iat: seconds(), exp: seconds() + 300, ...extra }),
  };
}

async function refusedWith(promise: Promise<unknown>, code: string): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected a refusal with ${code}, but the token was accepted`);
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');

/** Signs exactly these header and payload texts (duplicate keys and all) with an RSA key, RS256. */
function rawSign(headerText: string, payloadText: string, key: CryptoKey): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const signature = nodeSign('sha256', Buffer.from(input), KeyObject.from(key));
  return `${input}.${signature.toString('base64url')}`;
}

test('a token the provider itself issued verifies, and its claims come back', async (t) => {
  const s = await setup(t);
  s.clock.ms = Date.now();
  s.idp.setAccount('alice', { email: 'alice@example.com', groups: ['eng'] });
  const claims = await s.verify(await s.idp.idToken('alice'));
  assert.equal(claims.sub, 'alice');
  assert.deepEqual(claims.groups, ['eng']);
});

test('lifetime is checked at the injected clock, with the configured skew and no more', async (t) => {
  const s = await setup(t);
  const nowS = Math.floor(s.clock.ms / 1000);
  // exp just inside the skew passes; one second further is expired.
  await s.verify(await s.idp.sign(s.claims({ exp: nowS - 59, iat: nowS - 600 })));
  await refusedWith(s.verify(await s.idp.sign(s.claims({ exp: nowS - 61, iat: nowS - 600 }))), 'auth_expired');
  // nbf and iat ahead of the clock by more than the skew: not valid yet.
  await s.verify(await s.idp.sign(s.claims({ nbf: nowS + 59 })));
  await refusedWith(s.verify(await s.idp.sign(s.claims({ nbf: nowS + 61 }))), 'auth_not_yet_valid');
  await refusedWith(s.verify(await s.idp.sign(s.claims({ iat: nowS + 120, exp: nowS + 600 }))), 'auth_not_yet_valid');
  // The same token, verified later by moving the clock: expired.
  const token = await s.idp.sign(s.claims());
  await s.verify(token);
  s.clock.ms += 301_000 + SKEW_MS;
  await refusedWith(s.verify(token), 'auth_expired');
});

test('refusals: wrong audience, unknown issuer, forged signature, alg none, HS256 keyed with the public key, missing claims', async (t) => {
  const s = await setup(t);
  await refusedWith(s.verify(await s.idp.sign(s.claims({ aud: 'another-app' }))), 'auth_wrong_audience');
  await refusedWith(s.verify(await s.idp.sign(s.claims({ iss: 'https://evil.example.com' }))), 'auth_unknown_issuer');

  // Forged: the same claims and the provider's kid, signed with a key of the attacker's.
  const attacker = await generateKeyPair('RS256');
  const forged = await new SignJWT(s.claims()).setProtectedHeader({ alg: 'RS256', kid: s.idp.currentKid }).sign(attacker.privateKey);
  await refusedWith(s.verify(forged), 'auth_bad_signature');

  // alg none, unsigned, in the usual spellings.
  for (const alg of ['none', 'None', 'NONE']) {
    const unsigned = `${b64(JSON.stringify({ alg, typ: 'JWT' }))}.${b64(JSON.stringify(s.claims()))}.`;
    await refusedWith(s.verify(unsigned), 'auth_alg_refused');
  }

  // HMAC keyed with the issuer's public key, which anyone can fetch from its JWKS.
  const jwks = (await (await fetch(s.idp.jwksUri)).json()) as { keys: Record<string, string>[] };
  const publicPem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  for (const [alg, hash] of [['HS256', 'sha256'], ['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
    const input = `${b64(JSON.stringify({ alg, kid: s.idp.currentKid }))}.${b64(JSON.stringify(s.claims()))}`;
    const mac = createHmac(hash, publicPem).update(input).digest('base64url');
    await refusedWith(s.verify(`${input}.${mac}`), 'auth_alg_refused');
  }
  // An algorithm outside this issuer's allow-list (the provider signs RS256).
  await refusedWith(s.verify(await s.idp.sign(s.claims()), { algorithms: ['ES256'] }), 'auth_alg_refused');

  const noSub = s.claims();
  delete noSub.sub;
  await refusedWith(s.verify(await s.idp.sign(noSub)), 'auth_claim_missing');
  const noExp = s.claims();
  delete noExp.exp;
  await refusedWith(s.verify(await s.idp.sign(noExp)), 'auth_claim_missing');
  await refusedWith(s.verify(await s.idp.sign(s.claims({ sub: '' }))), 'auth_claim_missing');
});

test('key rotation: a token signed with the new key verifies without a restart; one signed with a removed key is refused', async (t) => {
  const s = await setup(t);
  const oldKid = s.idp.currentKid;
  await s.verify(await s.idp.sign(s.claims()));
  const fetchesBefore = s.idp.hits('/jwks');

  await s.idp.rotateKeys({ keepOld: false });
  const fresh = await s.verify(await s.idp.sign(s.claims({ sub: 'after-rotation' })));
  assert.equal(fresh.sub, 'after-rotation');
  assert.equal(s.idp.hits('/jwks'), fetchesBefore + 1, 'the unknown kid made the key set be fetched once');

  // The old key is no longer published: a token it signs is refused, even once the cooldown is over.
  await refusedWith(s.verify(await s.idp.sign(s.claims(), { kid: oldKid })), 'auth_unknown_key');
  s.clock.ms += 11_000;
  await refusedWith(s.verify(await s.idp.sign(s.claims(), { kid: oldKid })), 'auth_unknown_key');
});

test('made-up kids cannot make the gateway fetch the key set more than once per cooldown', async (t) => {
  const s = await setup(t);
  await s.verify(await s.idp.sign(s.claims()));
  const before = s.idp.hits('/jwks');
  for (let i = 0; i < 25; i++) {
    await refusedWith(s.verify(await s.idp.sign(s.claims(), { header: { kid: `made-up-${i}` } })), 'auth_unknown_key');
  }
  assert.equal(s.idp.hits('/jwks'), before + 1);
  s.clock.ms += 10_001;
  await refusedWith(s.verify(await s.idp.sign(s.claims(), { header: { kid: 'made-up-late' } })), 'auth_unknown_key');
  assert.equal(s.idp.hits('/jwks'), before + 2);
});

test('an unreachable issuer is refused as unavailable, retried after a pause, and verified once it answers', async (t) => {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  let down = true;
  let fetches = 0;
  // A key-set URL in front of the provider that fails while `down` is set.
  const front = createServer(async (req, res) => {
    fetches++;
    if (down) return void res.writeHead(503).end('down');
    const upstream = await fetch(idp.jwksUri);
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => front.close(resolve)));
  const clock = { ms: Date.now() };
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const keys = new IssuerKeys(idp.issuer, `http://127.0.0.1:${(front.address() as AddressInfo).port}/jwks`, logger, {
    now: () => clock.ms,
    retryMs: 1_000,
  });
  const seconds = Math.floor(clock.ms / 1000);
  const token = await idp.sign({ sub: 'alice', aud: idp.clientId, iat: seconds, exp: seconds + 300 });
  const expect = { issuer: idp.issuer, audiences: [idp.clientId], clockSkewMs: SKEW_MS, now: clock.ms };

  await refusedWith(verifyJwt(token, keys, expect), 'auth_issuer_unavailable');
  assert.equal(fetches, 1);
  // Within the pause: refused at once, nothing fetched.
  await refusedWith(verifyJwt(token, keys, expect), 'auth_issuer_unavailable');
  assert.equal(fetches, 1);
  assert.ok(lines.some((line) => line.includes('OIDC issuer discovery failed')), 'the failure is logged');

  down = false;
  clock.ms += 1_001;
  const claims = await verifyJwt(token, keys, { ...expect, now: clock.ms });
  assert.equal(claims.sub, 'alice');
});

test('discovery refuses a provider that calls itself by another issuer (a trailing slash differs)', async (t) => {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  const keys = new IssuerKeys(`${idp.issuer}/`, undefined, silent);
  const seconds = Math.floor(Date.now() / 1000);
  const token = await idp.sign({ iss: `${idp.issuer}/`, sub: 'a', aud: 'x', iat: seconds, exp: seconds + 60 });
  const err = await refusedWith(verifyJwt(token, keys, { issuer: `${idp.issuer}/`, audiences: ['x'], clockSkewMs: 0, now: Date.now() }), 'auth_issuer_unavailable');
  assert.match(err.message, /calls itself/);
});

test('hostile tokens are refused, each with the code that says why', async (t) => {
  const s = await setup(t);
  const key = s.idp.keys.get(s.idp.currentKid)!;
  const kid = s.idp.currentKid;
  const header = JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' });
  const good = await s.idp.sign(s.claims());
  const [goodHead, goodBody, goodSig] = good.split('.') as [string, string, string];
  const other = await s.idp.sign(s.claims({ sub: 'mallory' }));
  const attacker = await generateKeyPair('RS256', { extractable: true });
  const attackerJwk = await exportJWK(attacker.publicKey);
  const ecKey = await generateKeyPair('ES256');

  const cases: [string, () => Promise<string>, string][] = [
    ['empty string', async () => '', 'auth_missing'],
    ['longer than the limit', async () => s.idp.sign(s.claims({ pad: 'x'.repeat(MAX_JWT_LENGTH) })), 'auth_invalid'],
    ['two segments', async () => `${goodHead}.${goodBody}`, 'auth_invalid'],
    ['four segments', async () => `${good}.${goodSig}`, 'auth_invalid'],
    ['five segments (a JWE)', async () => `${goodHead}.${goodBody}.${goodSig}.${goodSig}.${goodSig}`, 'auth_invalid'],
    ['base64 padding', async () => `${good}=`, 'auth_invalid'],
    ['a trailing newline', async () => `${good}\n`, 'auth_invalid'],
    ['standard base64 characters (+ and /)', async () => `${goodHead}.${goodBody}.${goodSig.slice(0, -2)}+/`, 'auth_invalid'],
    ['a duplicate sub in the claims, validly signed', async () => rawSign(header, `{"iss":${JSON.stringify(s.idp.issuer)},"sub":"alice","sub":"admin","aud":"${s.idp.clientId}","iat":${Math.floor(s.clock.ms / 1000)},"exp":${Math.floor(s.clock.ms / 1000) + 300}}`, key.privateKey), 'auth_invalid'],
    ['a duplicate aud through an escape, validly signed', async () => rawSign(header, `{"iss":${JSON.stringify(s.idp.issuer)},"sub":"alice","aud":"other","\\u0061ud":"${s.idp.clientId}","iat":${Math.floor(s.clock.ms / 1000)},"exp":${Math.floor(s.clock.ms / 1000) + 300}}`, key.privateKey), 'auth_invalid'],
    ['a duplicate alg in the header', async () => rawSign(`{"alg":"none","alg":"RS256","kid":"${kid}"}`, JSON.stringify(s.claims()), key.privateKey), 'auth_invalid'],
    ['claims that are a JSON array', async () => rawSign(header, '["alice"]', key.privateKey), 'auth_invalid'],
    ['claims that are not UTF-8', async () => `${b64(header)}.${Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')}.${goodSig}`, 'auth_invalid'],
    ['a kid with a path in it', async () => s.idp.sign(s.claims(), { header: { kid: '../../../jwks' } }), 'auth_unknown_key'],
    ['a kid with a NUL and a URL', async () => s.idp.sign(s.claims(), { header: { kid: `${kid}\u0000http://evil.example/jwks` } }), 'auth_unknown_key'],
    ['aud as a number', async () => s.idp.sign(s.claims({ aud: 12345 })), 'auth_wrong_audience'],
    ['aud as an object', async () => s.idp.sign(s.claims({ aud: { 0: s.idp.clientId } })), 'auth_wrong_audience'],
    ['aud array with us, but azp another client', async () => s.idp.sign(s.claims({ aud: [s.idp.clientId, 'other'], azp: 'other' })), 'auth_wrong_audience'],
    ['exp as a string', async () => s.idp.sign(s.claims({ exp: String(Math.floor(s.clock.ms / 1000) + 300) })), 'auth_invalid'],
    ['exp as NaN-ish text in an array', async () => s.idp.sign(s.claims({ exp: [9999999999] })), 'auth_invalid'],
    ['iss with a trailing slash', async () => s.idp.sign(s.claims({ iss: `${s.idp.issuer}/` })), 'auth_unknown_issuer'],
    ['iss in upper case', async () => s.idp.sign(s.claims({ iss: s.idp.issuer.toUpperCase() })), 'auth_unknown_issuer'],
    ['iss with a fullwidth look-alike digit', async () => s.idp.sign(s.claims({ iss: s.idp.issuer.replace('127', '１27') })), 'auth_unknown_issuer'],
    ['iss as a list holding the issuer', async () => s.idp.sign(s.claims({ iss: [s.idp.issuer] })), 'auth_unknown_issuer'],
    ['a nested JWT (cty JWT)', async () => s.idp.sign(s.claims(), { header: { cty: 'JWT' } }), 'auth_invalid'],
    ['an unknown critical header', async () => rawSign(JSON.stringify({ alg: 'RS256', kid, crit: ['x-gatehouse'], 'x-gatehouse': 1 }), JSON.stringify(s.claims()), key.privateKey), 'auth_invalid'],
    ['an unencoded payload (b64 false)', async () => rawSign(JSON.stringify({ alg: 'RS256', kid, b64: false, crit: ['b64'] }), JSON.stringify(s.claims()), key.privateKey), 'auth_invalid'],
    ['typ at+jwt (an access token)', async () => s.idp.sign(s.claims(), { header: { typ: 'at+jwt' } }), 'auth_invalid'],
    ['typ logout+jwt', async () => s.idp.sign(s.claims(), { header: { typ: 'logout+jwt' } }), 'auth_invalid'],
    ['alg as a list', async () => `${b64(JSON.stringify({ alg: ['RS256'], kid }))}.${goodBody}.${goodSig}`, 'auth_alg_refused'],
    ['alg missing', async () => `${b64(JSON.stringify({ kid }))}.${goodBody}.${goodSig}`, 'auth_alg_refused'],
    ['an attacker key embedded as jwk', async () => new SignJWT(s.claims()).setProtectedHeader({ alg: 'RS256', jwk: attackerJwk }).sign(attacker.privateKey), 'auth_bad_signature'],
    ['an attacker key set named by jku', async () => new SignJWT(s.claims()).setProtectedHeader({ alg: 'RS256', kid, jku: 'http://127.0.0.1:9/jwks' }).sign(attacker.privateKey), 'auth_bad_signature'],
    ['claims of one token with the signature of another', async () => `${goodHead}.${other.split('.')[1]}.${goodSig}`, 'auth_bad_signature'],
    ['an ES256 token naming the RSA key', async () => new SignJWT(s.claims()).setProtectedHeader({ alg: 'ES256', kid }).sign(ecKey.privateKey), 'auth_unknown_key'],
    ['sub as a number', async () => s.idp.sign(s.claims({ sub: 42 })), 'auth_claim_missing'],
    ['iat as a string', async () => s.idp.sign(s.claims({ iat: 'yesterday' })), 'auth_invalid'],
  ];
  assert.ok(cases.length >= 20);
  for (const [name, make, code] of cases) {
    await t.test(name, async () => {
      await refusedWith(s.verify(await make()), code);
    });
  }
  // The one that should pass does: our client among several audiences, named as the authorized party (azp).
  const several = await s.verify(await s.idp.sign(s.claims({ aud: ['other', s.idp.clientId], azp: s.idp.clientId })));
  assert.equal(several.sub, 'alice');
});
