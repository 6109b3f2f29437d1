import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startOidcProvider } from '../support/oidc-provider.ts';

test('the test OIDC provider issues ID tokens its JWKS verifies, rotates keys, and runs PKCE and device flows', async (t) => {
  const idp = await startOidcProvider();
  t.after(() => idp.close());
  idp.setAccount('alice', { email: 'alice@example.com', groups: ['eng'] });

  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  assert.equal(discovery.issuer, idp.issuer);
  assert.equal(discovery.jwks_uri, idp.jwksUri);

  const jwt = await idp.idToken('alice');
  const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
  const { payload } = await jwtVerify(jwt, jwks, { issuer: idp.issuer, audience: idp.clientId });
  assert.equal(payload.sub, 'alice');
  assert.deepEqual(payload.groups, ['eng']);

  const oldKid = idp.currentKid;
  const newKid = await idp.rotateKeys();
  const rotated = await idp.idToken('alice');
  assert.equal(decodeProtectedHeader(rotated).kid, newKid);
  const published = (await (await fetch(idp.jwksUri)).json()) as { keys: { kid: string }[] };
  assert.deepEqual(published.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
  await idp.rotateKeys({ keepOld: false });
  const after = (await (await fetch(idp.jwksUri)).json()) as { keys: { kid: string }[] };
  assert.equal(after.keys.length, 1);

  // Authorization code with PKCE on a loopback redirect (any port).
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(discovery.authorization_endpoint!);
  const redirectUri = 'http://127.0.0.1:49152/callback';
  auth.search = new URLSearchParams({
    client_id: idp.clientId, response_type: 'code', scope: 'openid email groups', redirect_uri: redirectUri,
    code_challenge: challenge, code_challenge_method: 'S256', state: 'st', nonce: 'n1',
  }).toString();
  const landed = await idp.authorize(auth.href, 'alice');
  assert.equal(landed.origin + landed.pathname, redirectUri);
  const code = landed.searchParams.get('code');
  assert.ok(code, landed.href);
  const tokenRes = await fetch(discovery.token_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: idp.clientId, code_verifier: verifier }),
  });
  const tokens = (await tokenRes.json()) as { id_token: string };
  assert.equal(tokenRes.status, 200, JSON.stringify(tokens));
  const verified = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience: idp.clientId });
  assert.equal(verified.payload.email, 'alice@example.com');

  // Device authorization grant.
  const deviceRes = await fetch(discovery.device_authorization_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: idp.clientId, scope: 'openid email groups' }),
  });
  const device = (await deviceRes.json()) as { device_code: string; user_code: string };
  await idp.approveDevice(device.user_code, 'alice');
  const polled = await fetch(discovery.token_endpoint!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code, client_id: idp.clientId }),
  });
  const deviceTokens = (await polled.json()) as { id_token: string };
  assert.equal(polled.status, 200, JSON.stringify(deviceTokens));
  const dv = await jwtVerify(deviceTokens.id_token, createRemoteJWKSet(new URL(idp.jwksUri)), { issuer: idp.issuer, audience: idp.clientId });
  assert.equal(dv.payload.sub, 'alice');
});
