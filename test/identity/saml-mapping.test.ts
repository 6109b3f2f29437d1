/**
 * Settings that change what a sign-in maps to, on a real gateway: the user name from an attribute
 * instead of the NameID, two IdP certificates during a key rotation, an http origin (no Secure
 * cookie) and a shorter session.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashToken } from '../../src/store/secret-box.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { b64, createTestIdp, postAcs, samlYaml, sessionToken, signedResponse, startLogin, type ResponseOptions, type TestIdp } from '../support/saml-idp.ts';

const ORIGIN = 'http://gatehouse.test';
const SP = { audience: `${ORIGIN}/api/v1/saml/metadata`, recipient: `${ORIGIN}/api/v1/saml/acs`, destination: `${ORIGIN}/api/v1/saml/acs` };

let oldKey: TestIdp;
let newKey: TestIdp;
let stranger: TestIdp;
let gw: TestGateway;

before(async () => {
  [oldKey, newKey, stranger] = await Promise.all([createTestIdp('idp'), createTestIdp('idp'), createTestIdp('idp')]);
  // The same provider, mid-rotation: its old certificate as PEM and its new one as bare base64.
  gw = await startTestGateway({
    extraYaml: samlYaml(oldKey, { certs: [JSON.stringify(oldKey.cert), newKey.certBase64], usernameAttribute: 'email', sessionTtl: '30m', baseUrl: ORIGIN }),
  });
});
after(() => gw?.close());

async function signIn(signer: TestIdp, overrides: Partial<ResponseOptions>) {
  const { requestId } = await startLogin(gw.url);
  const options: ResponseOptions = { idp: oldKey, inResponseTo: requestId, nameId: '00u1opaque', ...SP, ...overrides };
  return postAcs(gw.url, { SAMLResponse: b64(signedResponse(options, signer)) });
}

test('the user name comes from the configured attribute, not the opaque NameID', async () => {
  const result = await signIn(oldKey, { attributes: { email: ['olive@example.com'], groups: ['ops'] } });
  assert.equal(result.status, 303, result.text);
  assert.ok(await gw.gateway.store.findPrincipal('user', 'olive@example.com'));
  assert.equal(await gw.gateway.store.findPrincipal('user', '00u1opaque'), null);
});

test('both certificates of a rotation verify; a third does not', async () => {
  assert.equal((await signIn(oldKey, { attributes: { email: ['pat@example.com'] } })).status, 303);
  assert.equal((await signIn(newKey, { attributes: { email: ['pat@example.com'] } })).status, 303);
  const refused = await signIn(stranger, { attributes: { email: ['mallory@example.com'] } });
  assert.equal(refused.status, 401);
  assert.equal(refused.json.error.code, 'saml_invalid');
});

test('the username attribute missing, empty, or holding two values is refused', async () => {
  const cases: Record<string, string[]>[] = [{ groups: ['ops'] }, { email: [''] }, { email: ['quinn@example.com', 'mallory@example.com'] }];
  for (const attributes of cases) {
    const result = await signIn(oldKey, { attributes });
    assert.equal(result.status, 401, JSON.stringify(attributes));
    assert.equal(result.json.error.code, 'saml_invalid');
  }
  assert.equal(await gw.gateway.store.findPrincipal('user', 'quinn@example.com'), null);
  assert.equal(await gw.gateway.store.findPrincipal('user', 'mallory@example.com'), null);
});

test('over http the cookie is not Secure; its Max-Age and the token follow sessionTtl', async () => {
  const result = await signIn(oldKey, { attributes: { email: ['rose@example.com'] } });
  assert.equal(result.status, 303);
  const parts = (result.setCookie ?? '').split(/;\s*/);
  assert.ok(parts.includes('Max-Age=1800') && parts.includes('HttpOnly') && parts.includes('SameSite=Strict'), result.setCookie!);
  assert.ok(!parts.includes('Secure'));
  const token = await gw.gateway.store.getTokenByHash(hashToken(sessionToken(result.setCookie)!));
  assert.equal(token!.expiresAt! - token!.createdAt, 30 * 60_000);
});

test('the entity id defaults to the metadata URL of baseUrl: an assertion for the https origin is refused', async () => {
  const result = await signIn(oldKey, { attributes: { email: ['sam@example.com'] }, audience: 'https://gatehouse.test/api/v1/saml/metadata' });
  assert.equal(result.status, 401);
  assert.equal(result.json.error.code, 'saml_invalid');
  const metadata = await (await fetch(`${gw.url}/api/v1/saml/metadata`)).text();
  assert.match(metadata, /entityID="http:\/\/gatehouse\.test\/api\/v1\/saml\/metadata"/);
});
