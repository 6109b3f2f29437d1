/**
 * Which principal a SAML sign-in reaches: the account is the identity provider's entityId and the
 * NameID, linked on its first sign-in like an OIDC (issuer, sub), so another NameID asserting the
 * same user name (usernameAttribute), or an OIDC account doing so, never takes over the person.
 * A transient NameID changes every time, so for it the user name stands as the account.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../src/errors.ts';
import { userForSignIn } from '../../src/identity/saml/sign-in-user.ts';
import { Refusal } from '../../src/identity/saml/refusal.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';
import { startTestGateway } from '../support/gateway.ts';
import { startOidcProvider } from '../support/oidc-provider.ts';
import { b64, createTestIdp, postAcs, samlYaml, sessionToken, signedResponse, startLogin } from '../support/saml-idp.ts';

const IDP = 'https://idp.test/entity';
const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NOW = 1_750_000_000_000;

async function store(t: TestContext): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-saml-identity-'));
  const opened = await openStore({ sqlitePath: join(dir, 'gatehouse.db') });
  t.after(async () => {
    await opened.close();
    await rm(dir, { recursive: true, force: true });
  });
  return opened;
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    if (err instanceof Refusal) return `${err.code}:${err.reason}`;
    assert.ok(err instanceof GatewayError, String(err));
    return err.code;
  }
}

test('the NameID is the account: another NameID with the same user name is refused; a renamed one keeps its person', async (t) => {
  const s = await store(t);
  const alice = await userForSignIn(s, { idpEntityId: IDP, nameId: 'id-1', nameIdFormat: EMAIL, username: 'alice@corp.com', groups: ['eng'] }, NOW);
  assert.equal(alice.name, 'alice@corp.com');
  assert.equal(await outcome(userForSignIn(s, { idpEntityId: IDP, nameId: 'id-2', nameIdFormat: EMAIL, username: 'Alice@corp.com', groups: ['admins'] }, NOW)), 'auth_identity_conflict');
  assert.deepEqual((await s.getPrincipal(alice.id))!.groups, ['eng']);
  const renamed = await userForSignIn(s, { idpEntityId: IDP, nameId: 'id-1', nameIdFormat: EMAIL, username: 'alice.smith@corp.com', groups: ['eng'] }, NOW);
  assert.equal(renamed.id, alice.id);
  // The same NameID from another identity provider is another account.
  assert.equal(await outcome(userForSignIn(s, { idpEntityId: 'https://evil.test/entity', nameId: 'id-1', nameIdFormat: EMAIL, username: 'alice@corp.com', groups: [] }, NOW)), 'auth_identity_conflict');
});

test('a transient NameID: the user name is the account, so each sign-in reaches the same person', async (t) => {
  const s = await store(t);
  const first = await userForSignIn(s, { idpEntityId: IDP, nameId: `_t${randomUUID()}`, nameIdFormat: TRANSIENT, username: 'bob', groups: [] }, NOW);
  const second = await userForSignIn(s, { idpEntityId: IDP, nameId: `_t${randomUUID()}`, nameIdFormat: TRANSIENT, username: 'bob', groups: [] }, NOW);
  assert.equal(second.id, first.id);
});

test('a NameID that cannot key an account is refused as saml_invalid', async (t) => {
  const s = await store(t);
  for (const [name, nameId] of [
    ['empty', ''],
    ['absent', undefined],
    ['not text', 42],
    ['a NUL', 'carol\u0000'],
    ['a newline', 'carol\nadmin'],
    ['600 characters', 'n'.repeat(600)],
  ] as const) {
    assert.equal(await outcome(userForSignIn(s, { idpEntityId: IDP, nameId, nameIdFormat: EMAIL, username: 'carol', groups: [] }, NOW)), 'saml_invalid:name_id', name);
  }
  assert.deepEqual((await s.listPrincipals()).filter((p) => p.name === 'carol'), []);
});

test('through the gateway: an OIDC account asserting a SAML user\'s name is refused, and the SAML user signs in again', async (t) => {
  const idp = await createTestIdp('idp');
  const oidc = await startOidcProvider();
  t.after(() => oidc.close());
  const identityYaml = `  oidc:\n    issuers:\n      - name: corp\n        issuer: ${oidc.issuer}\n        clientId: ${oidc.clientId}\n`;
  const gw = await startTestGateway({ extraYaml: samlYaml(idp, { usernameAttribute: 'email', identityYaml }) });
  t.after(() => gw.close());
  const signIn = async (nameId: string) => {
    const { requestId } = await startLogin(gw.url);
    const xml = signedResponse({ idp, inResponseTo: requestId, nameId, attributes: { email: ['dana@corp.com'], groups: ['engineering'] } });
    return postAcs(gw.url, { SAMLResponse: b64(xml) });
  };
  const first = await signIn('00u-dana');
  assert.equal(first.status, 303, first.text);
  assert.ok(sessionToken(first.setCookie));

  const other = await signIn('00u-mallory');
  assert.equal(other.status, 403, other.text);
  assert.equal(sessionToken(other.setCookie), null);

  oidc.setAccount('dana-oidc', { preferred_username: 'dana@corp.com' });
  const res = await fetch(`${gw.url}/api/v1/login/oidc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ issuer: 'corp', idToken: await oidc.idToken('dana-oidc', { nonce: randomUUID() }) }),
  });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-gatehouse-error'), 'auth_identity_conflict');

  const again = await signIn('00u-dana');
  assert.ok(sessionToken(again.setCookie), again.text);
  const people = (await gw.api('GET', '/users')).json.users.filter((u: any) => u.name === 'dana@corp.com');
  assert.equal(people.length, 1);
});
