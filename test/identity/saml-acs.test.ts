/**
 * The SAML assertion consumer on a real gateway, fed by a test identity provider whose key signs
 * each response in the test. One accepted sign-in end to end, then every hostile shape we know of
 * refused with its code, with no principal created, no cookie set and nothing of it in the log.
 * Times are set relative to the gateway's clock (node-saml reads Date.now) and far beyond the
 * 60 s skew, so no test sleeps or depends on timing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hashToken } from '../../src/store/secret-box.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import {
  ASSERTION_XPATH,
  RESPONSE_XPATH,
  b64,
  buildAssertion,
  createTestIdp,
  postAcs,
  samlYaml,
  sessionToken,
  signElement,
  signedAssertion,
  signedResponse,
  startLogin,
  wrapInResponse,
  type AcsAnswer,
  type ResponseOptions,
  type TestIdp,
} from '../support/saml-idp.ts';

let idp: TestIdp;
let other: TestIdp;
let gw: TestGateway;
const issuedSecrets: string[] = [];
const postedResponses: string[] = [];
const refusedNames: string[] = [];

before(async () => {
  [idp, other] = await Promise.all([createTestIdp('idp'), createTestIdp('attacker')]);
  gw = await startTestGateway({
    extraYaml: samlYaml(idp, { identityYaml: '  roles:\n    - { group: gatehouse-admins, role: admin }\n' }),
  });
});
after(() => gw?.close());

const MIN = 60_000;

/** A fresh sign-in request and the options of a response answering it as the IdP would. */
async function answer(overrides: Partial<ResponseOptions> = {}): Promise<ResponseOptions> {
  const { requestId } = await startLogin(gw.url);
  return { idp, inResponseTo: requestId, ...overrides };
}

const refusals = () => gw.logs.filter((line) => line.includes('SAML sign-in refused')).map((line) => JSON.parse(line));
/** How many refusals were logged before the latest post. */
let refusalsBefore = 0;

async function postRaw(fields: Parameters<typeof postAcs>[1], headers: Record<string, string> = {}): Promise<AcsAnswer> {
  refusalsBefore = refusals().length;
  const result = await postAcs(gw.url, fields, headers);
  const secret = sessionToken(result.setCookie);
  if (secret) issuedSecrets.push(secret);
  return result;
}

async function post(xml: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<AcsAnswer> {
  const encoded = b64(xml);
  postedResponses.push(encoded);
  return postRaw({ SAMLResponse: encoded, ...extra }, headers);
}

interface Expected {
  /** No principal may exist under this name afterwards. */
  readonly name?: string;
  /** The reason the gateway logged: proves the check meant to catch this input is the one that did. */
  readonly reason?: string;
  readonly status?: number;
}

/** Refused with `code`: no cookie, the API's error shape, and nothing created. */
async function assertRefused(result: AcsAnswer, code: string, expected: Expected = {}): Promise<void> {
  assert.equal(result.status, expected.status ?? 401, result.text);
  assert.equal(result.json?.error?.code, code, result.text);
  assert.equal(result.setCookie, null);
  if (expected.reason) {
    const logged = refusals().slice(refusalsBefore);
    assert.equal(logged.length, 1, 'one refusal logged for the post');
    assert.deepEqual({ code: logged[0].code, reason: logged[0].reason }, { code, reason: expected.reason });
  }
  if (expected.name) {
    refusedNames.push(expected.name);
    assert.equal(await gw.gateway.store.findPrincipal('user', expected.name), null, `no principal for ${expected.name}`);
  }
}

describe('accepted', () => {
  test('a signed assertion answering our request: 303 to the relay path, an HttpOnly SameSite=Strict Secure cookie, the user created with the mapped groups', async () => {
    const login = await startLogin(gw.url, '/console/sessions?page=2');
    assert.equal(login.location.origin + login.location.pathname, idp.ssoUrl);
    const relay = login.location.searchParams.get('RelayState');
    assert.equal(relay, '/console/sessions?page=2');
    assert.match(login.request, /AssertionConsumerServiceURL="https:\/\/gatehouse\.test\/api\/v1\/saml\/acs"/);

    const now = Date.now();
    const result = await post(signedResponse({ idp, inResponseTo: login.requestId, nameId: 'alice@example.com', attributes: { groups: ['engineering', 'gatehouse-admins'] } }), {
      RelayState: relay!,
    });
    assert.equal(result.status, 303, result.text);
    assert.equal(result.location, '/console/sessions?page=2');
    const cookie = result.setCookie ?? '';
    const parts = cookie.split(/;\s*/);
    // Over https the name may carry the __Host- prefix, which browsers honour only with Secure, Path=/ and no Domain.
    assert.match(parts[0]!, /^(__Host-)?gatehouse_session=gta_[A-Za-z0-9]{40}$/);
    assert.ok(!parts.some((p) => /^domain=/i.test(p)), cookie);
    for (const attribute of ['Path=/', 'Max-Age=28800', 'HttpOnly', 'SameSite=Strict', 'Secure']) assert.ok(parts.includes(attribute), `${attribute} in ${cookie}`);

    const principal = await gw.gateway.store.findPrincipal('user', 'alice@example.com');
    assert.ok(principal);
    assert.deepEqual(principal.groups, ['engineering', 'gatehouse-admins']);
    assert.equal(principal.disabledAt, null);
    const token = await gw.gateway.store.getTokenByHash(hashToken(sessionToken(cookie)!));
    assert.ok(token);
    assert.equal(token.kind, 'admin');
    assert.equal(token.principalId, principal.id);
    assert.equal(token.connections, null);
    assert.ok(token.expiresAt! - token.createdAt === 8 * 3600_000 && token.createdAt >= now - MIN);
  });

  test('the session token is an API token: its groups give it the roles identity.roles grants', async () => {
    const result = await post(signedResponse(await answer({ nameId: 'dora@example.com', attributes: { groups: ['gatehouse-admins'] } })));
    assert.equal(result.status, 303);
    const who = await gw.api('GET', '/whoami', undefined, sessionToken(result.setCookie)!);
    assert.equal(who.status, 200, JSON.stringify(who.json));
    assert.equal(who.json.principal.name, 'dora@example.com');
    assert.deepEqual(who.json.roles, ['admin']);
  });

  test('the API does not take the cookie itself yet (the console adds it with CSRF protection)', async () => {
    const result = await post(signedResponse(await answer({ nameId: 'erin@example.com' })));
    const response = await fetch(`${gw.url}/api/v1/whoami`, { headers: { cookie: result.setCookie!.split(';')[0]! } });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error.code, 'auth_missing');
  });

  test('groups follow the identity provider on every sign-in; no groups attribute means none', async () => {
    const name = 'bob@example.com';
    assert.equal((await post(signedResponse(await answer({ nameId: name, attributes: { groups: ['a', 'b', 'a'] } })))).status, 303);
    assert.deepEqual((await gw.gateway.store.findPrincipal('user', name))?.groups, ['a', 'b']);
    assert.equal((await post(signedResponse(await answer({ nameId: name, attributes: { groups: ['b'] } })))).status, 303);
    assert.deepEqual((await gw.gateway.store.findPrincipal('user', name))?.groups, ['b']);
    assert.equal((await post(signedResponse(await answer({ nameId: name, attributes: {} })))).status, 303);
    assert.deepEqual((await gw.gateway.store.findPrincipal('user', name))?.groups, []);
  });

  test('the response may be signed as well as the assertion; without RelayState the browser lands on /', async () => {
    const o = await answer({ nameId: 'frank@example.com' });
    const result = await post(signElement(wrapInResponse(o, signedAssertion(o)), RESPONSE_XPATH, idp));
    assert.equal(result.status, 303, result.text);
    assert.equal(result.location, '/');
  });

  test('a RelayState changed on the way back to an off-site URL lands on / instead', async () => {
    for (const relay of ['//evil.test/x', 'https://evil.test/', '/\\evil.test']) {
      const result = await post(signedResponse(await answer({ nameId: 'grace@example.com' })), { RelayState: relay });
      assert.equal(result.status, 303);
      assert.equal(result.location, '/', relay);
    }
  });
});

describe('refused: signatures', () => {
  test('an unsigned assertion', async () => {
    const o = await answer({ nameId: 'mallory-unsigned@example.com' });
    await assertRefused(await post(wrapInResponse(o, buildAssertion(o))), 'saml_invalid', { name: 'mallory-unsigned@example.com', reason: 'signature' });
  });

  test('NameID changed after signing', async () => {
    const xml = signedResponse(await answer({ nameId: 'henry@example.com' }));
    await assertRefused(await post(xml.replace('>henry@example.com<', '>mallory-nameid@example.com<')), 'saml_invalid', { name: 'mallory-nameid@example.com', reason: 'signature' });
    assert.equal(await gw.gateway.store.findPrincipal('user', 'henry@example.com'), null);
  });

  test('a group added after signing', async () => {
    const xml = signedResponse(await answer({ nameId: 'mallory-group@example.com', attributes: { groups: ['engineering'] } }));
    const tampered = xml.replace('>engineering<', '>gatehouse-admins<');
    assert.notEqual(tampered, xml);
    await assertRefused(await post(tampered), 'saml_invalid', { name: 'mallory-group@example.com', reason: 'signature' });
  });

  test('signed by another key, which carries its own certificate in KeyInfo', async () => {
    const xml = signedResponse(await answer({ nameId: 'mallory-key@example.com' }), other);
    assert.match(xml, /<X509Certificate>/);
    await assertRefused(await post(xml), 'saml_invalid', { name: 'mallory-key@example.com', reason: 'signature' });
  });

  test('only the response signed, the assertion inside altered after signing', async () => {
    const o = await answer({ nameId: 'ivan@example.com' });
    const xml = signElement(wrapInResponse(o, buildAssertion(o)), RESPONSE_XPATH, idp);
    await assertRefused(await post(xml.replace('>ivan@example.com<', '>mallory-outer@example.com<')), 'saml_invalid', { name: 'mallory-outer@example.com', reason: 'signature' });
  });

  test('only the response signed, nothing altered: the assertion itself must be signed', async () => {
    const o = await answer({ nameId: 'mallory-response-only@example.com' });
    await assertRefused(await post(signElement(wrapInResponse(o, buildAssertion(o)), RESPONSE_XPATH, idp)), 'saml_invalid', { name: 'mallory-response-only@example.com', reason: 'signature' });
  });

  test('wrapping: a second, unsigned assertion next to the signed one', async () => {
    const o = await answer({ nameId: 'judy@example.com' });
    const evil = buildAssertion({ ...o, nameId: 'mallory-second@example.com' });
    await assertRefused(await post(wrapInResponse(o, signedAssertion(o) + evil)), 'saml_invalid', { name: 'mallory-second@example.com', reason: 'multiple_assertions' });
  });

  test('wrapping: the signed assertion moved into Extensions, an unsigned one in its place', async () => {
    const o = await answer({ nameId: 'judy@example.com' });
    const evil = buildAssertion({ ...o, nameId: 'mallory-moved@example.com' });
    const xml = wrapInResponse(o, `<samlp:Extensions>${signedAssertion(o)}</samlp:Extensions>${evil}`);
    await assertRefused(await post(xml), 'saml_invalid', { name: 'mallory-moved@example.com', reason: 'signature' });
  });

  test("wrapping: an unsigned assertion with the signed one's ID and a copy of its signature", async () => {
    const o = await answer({ nameId: 'judy@example.com', assertionId: '_same-id' });
    const signed = signedAssertion(o);
    const signature = /<Signature[\s\S]*<\/Signature>/.exec(signed)![0];
    const evil = buildAssertion({ ...o, nameId: 'mallory-copy@example.com' }).replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    await assertRefused(await post(wrapInResponse(o, evil + `<samlp:Extensions>${signed}</samlp:Extensions>`)), 'saml_invalid', { name: 'mallory-copy@example.com', reason: 'signature_structure' });
  });

  test('a comment inside the signed NameID (canonicalisation drops it, so the signature still verifies)', async () => {
    const xml = signedResponse(await answer({ nameId: 'karl@example.com.evil.test' }));
    const injected = xml.replace('>karl@example.com.evil.test<', '>karl@example.com<!---->.evil.test<');
    assert.notEqual(injected, xml);
    await assertRefused(await post(injected), 'saml_invalid', { name: 'karl@example.com', reason: 'comment' });
    assert.equal(await gw.gateway.store.findPrincipal('user', 'karl@example.com.evil.test'), null);
  });

  test('an assertion posted on its own, without a Response', async () => {
    await assertRefused(await post(signedAssertion(await answer({ nameId: 'mallory-bare@example.com' }))), 'saml_invalid', { name: 'mallory-bare@example.com', reason: 'not_a_response' });
  });

  test('the identity provider reporting a failure (unsigned status, no assertion)', async () => {
    const { requestId } = await startLogin(gw.url);
    const xml =
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_e1" Version="2.0" IssueInstant="${new Date().toISOString()}" InResponseTo="${requestId}">` +
      '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></samlp:StatusCode>' +
      '<samlp:StatusMessage>user mallory-status is not assigned</samlp:StatusMessage></samlp:Status></samlp:Response>';
    await assertRefused(await post(xml), 'saml_invalid', { reason: 'idp_status' });
    refusedNames.push('mallory-status');
  });
});

describe('refused: audience, recipient, issuer, times', () => {
  test('another service provider as the audience', async () => {
    await assertRefused(await post(signedResponse(await answer({ nameId: 'mallory-aud@example.com', audience: 'https://other-sp.test' }))), 'saml_invalid', { name: 'mallory-aud@example.com', reason: 'audience' });
  });

  test("another service provider's ACS as the recipient", async () => {
    await assertRefused(
      await post(signedResponse(await answer({ nameId: 'mallory-rcpt@example.com', recipient: 'https://other-sp.test/acs' }))),
      'saml_invalid', { name: 'mallory-rcpt@example.com', reason: 'recipient' }
    );
  });

  test('a response addressed (Destination) to another service provider', async () => {
    await assertRefused(
      await post(signedResponse(await answer({ nameId: 'mallory-dest@example.com', destination: 'https://other-sp.test/acs' }))),
      'saml_invalid', { name: 'mallory-dest@example.com', reason: 'destination' }
    );
  });

  test('another issuer, even with the trusted key', async () => {
    await assertRefused(await post(signedResponse(await answer({ nameId: 'mallory-iss@example.com', issuer: 'https://other-idp.test' }))), 'saml_invalid', { name: 'mallory-iss@example.com', reason: 'issuer' });
  });

  test('expired: NotOnOrAfter ten minutes ago', async () => {
    const now = Date.now();
    const o = await answer({ nameId: 'mallory-expired@example.com', issueInstant: now - 15 * MIN, notBefore: now - 20 * MIN, notOnOrAfter: now - 10 * MIN });
    await assertRefused(await post(signedResponse(o)), 'saml_expired', { name: 'mallory-expired@example.com', reason: 'confirmation_time' });
  });

  test('expired confirmation: the bearer window closed, the conditions still open', async () => {
    const now = Date.now();
    const o = await answer({ nameId: 'mallory-confirm@example.com', confirmationNotOnOrAfter: now - 10 * MIN, notOnOrAfter: now + 10 * MIN });
    await assertRefused(await post(signedResponse(o)), 'saml_expired', { name: 'mallory-confirm@example.com', reason: 'confirmation_time' });
  });

  test('not yet valid: NotBefore ten minutes ahead', async () => {
    const now = Date.now();
    await assertRefused(await post(signedResponse(await answer({ nameId: 'mallory-early@example.com', notBefore: now + 10 * MIN, notOnOrAfter: now + 20 * MIN }))), 'saml_expired', { name: 'mallory-early@example.com', reason: 'not_yet_valid' });
  });

  test('issued ten minutes in the future', async () => {
    const now = Date.now();
    await assertRefused(await post(signedResponse(await answer({ nameId: 'mallory-future@example.com', issueInstant: now + 10 * MIN }))), 'saml_expired', { name: 'mallory-future@example.com', reason: 'issued_in_future' });
  });

  test('issued two hours ago though it claims to be valid for days', async () => {
    const now = Date.now();
    const o = await answer({ nameId: 'mallory-old@example.com', issueInstant: now - 120 * MIN, notBefore: now - 120 * MIN, notOnOrAfter: now + 3 * 24 * 60 * MIN });
    await assertRefused(await post(signedResponse(o)), 'saml_expired', { name: 'mallory-old@example.com', reason: 'confirmation_time' });
  });
});

describe('refused: unsolicited and replayed', () => {
  test('IdP-initiated: no InResponseTo at all', async () => {
    await assertRefused(await post(signedResponse({ idp, inResponseTo: null, nameId: 'mallory-idp-init@example.com' })), 'saml_unsolicited', { name: 'mallory-idp-init@example.com', reason: 'no_in_response_to' });
  });

  test('an InResponseTo this gateway never sent', async () => {
    const forged = `_gh.zzzzzzzz.${'0'.repeat(32)}.${'0'.repeat(64)}`;
    await assertRefused(await post(signedResponse({ idp, inResponseTo: forged, nameId: 'mallory-forged@example.com' })), 'saml_unsolicited', { name: 'mallory-forged@example.com', reason: 'unknown_request' });
  });

  test('a real request id with its MAC altered', async () => {
    const { requestId } = await startLogin(gw.url);
    const altered = requestId.slice(0, -1) + (requestId.endsWith('0') ? '1' : '0');
    await assertRefused(await post(signedResponse({ idp, inResponseTo: altered, nameId: 'mallory-mac@example.com' })), 'saml_unsolicited', { name: 'mallory-mac@example.com', reason: 'unknown_request' });
  });

  test("a signed IdP-initiated assertion wrapped in a response naming someone's request", async () => {
    const o = await answer({ nameId: 'mallory-wrapped@example.com', confirmationInResponseTo: null });
    await assertRefused(await post(signedResponse(o)), 'saml_unsolicited', { name: 'mallory-wrapped@example.com', reason: 'confirmation_in_response_to' });
  });

  test("an assertion answering one request posted as the answer to another", async () => {
    const first = await startLogin(gw.url);
    const o = await answer({ nameId: 'mallory-swap@example.com', confirmationInResponseTo: first.requestId });
    await assertRefused(await post(signedResponse(o)), 'saml_unsolicited', { name: 'mallory-swap@example.com', reason: 'in_response_to_mismatch' });
  });

  test('the same response posted twice: accepted once', async () => {
    const xml = signedResponse(await answer({ nameId: 'liam@example.com' }));
    assert.equal((await post(xml)).status, 303);
    const again = await post(xml);
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'saml_replayed');
    assert.equal(again.setCookie, null);
  });

  test('a second assertion answering the same request', async () => {
    const o = await answer({ nameId: 'mia@example.com' });
    assert.equal((await post(signedResponse(o))).status, 303);
    await assertRefused(await post(signedResponse({ ...o, nameId: 'mallory-second-answer@example.com' })), 'saml_replayed', { name: 'mallory-second-answer@example.com', reason: 'request_answered' });
  });
});

describe('refused: malformed and oversized input', () => {
  const xxe = (name: string, requestId: string) =>
    `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + signedResponse({ idp, inResponseTo: requestId, nameId: name });

  test('a DTD with an external entity (XXE)', async () => {
    const { requestId } = await startLogin(gw.url);
    await assertRefused(await post(xxe('mallory-xxe@example.com', requestId)), 'saml_invalid', { name: 'mallory-xxe@example.com', reason: 'dtd' });
  });

  test('entity expansion (billion laughs)', async () => {
    const { requestId } = await startLogin(gw.url);
    const lol = '<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>';
    await assertRefused(await post(lol + signedResponse({ idp, inResponseTo: requestId, nameId: 'mallory-lol@example.com' }).replace('mallory-lol', '&c;mallory-lol')), 'saml_invalid', { reason: 'dtd' });
  });

  test('a processing instruction inside the document', async () => {
    const xml = signedResponse(await answer({ nameId: 'mallory-pi@example.com' })).replace('<saml:Issuer>', '<?evil x?><saml:Issuer>');
    await assertRefused(await post(xml), 'saml_invalid', { name: 'mallory-pi@example.com', reason: 'processing_instruction' });
  });

  test('a body over the limit is cut off before anything parses it', async () => {
    const result = await postRaw({ SAMLResponse: 'A'.repeat(600 * 1024) });
    assert.equal(result.status, 413);
    assert.equal(result.json.error.code, 'body_too_large');
  });

  test('a response over 192 KiB inside the body limit', async () => {
    const o = await answer({ nameId: 'mallory-big@example.com' });
    const group = (i: number) => `group-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`;
    const sized = (n: number) => signedResponse({ ...o, attributes: { groups: Array.from({ length: n }, (_, i) => group(i)) } });
    // Just over the decoded limit, and under the 1,000 groups a sign-in may carry: only the size can refuse it.
    const perGroup = Buffer.byteLength(sized(2)) - Buffer.byteLength(sized(1));
    const xml = sized(Math.ceil((192 * 1024 + 512 - Buffer.byteLength(sized(0))) / perGroup));
    assert.ok(Buffer.byteLength(xml) > 192 * 1024 && new URLSearchParams({ SAMLResponse: b64(xml) }).toString().length < 512 * 1024, `${Buffer.byteLength(xml)} bytes`);
    await assertRefused(await post(xml), 'saml_invalid', { name: 'mallory-big@example.com', reason: 'too_large' });
  });

  test('more groups than a sign-in may carry', async () => {
    const o = await answer({ nameId: 'mallory-groups@example.com', attributes: { groups: Array.from({ length: 1001 }, (_, i) => `g${i}`) } });
    await assertRefused(await post(signedResponse(o)), 'saml_invalid', { name: 'mallory-groups@example.com', reason: 'too_many_groups' });
  });

  const garbage: [string, string, string][] = [
    ['not base64 at all', '!!!not*base64$$$', 'not_base64'],
    ['base64 of random bytes (not UTF-8)', Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1]).toString('base64'), 'not_utf8'],
    ['base64 of text that is not XML', Buffer.from('hello, gateway').toString('base64'), 'malformed'],
    ['truncated base64', b64('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>').slice(0, -3), 'not_base64'],
    ['base64 of truncated XML', b64('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><saml:Assertion'), 'malformed'],
    ['a root element from another namespace', b64('<Response xmlns="urn:evil"/>'), 'not_a_response'],
    ['base64url instead of base64', b64('<?xml version="1.0"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">\u00ff\u00fe</samlp:Response>').replace(/\+/g, '-').replace(/\//g, '_'), 'not_base64'],
  ];
  for (const [name, value, reason] of garbage) {
    test(`garbage: ${name}`, async () => {
      postedResponses.push(value);
      await assertRefused(await postRaw({ SAMLResponse: value }), 'saml_invalid', { reason });
    });
  }

  test('no SAMLResponse field, an empty one, or the field twice', async () => {
    const valid = b64(signedResponse(await answer({ nameId: 'mallory-twice@example.com' })));
    postedResponses.push(valid);
    const cases: Record<string, string | string[]>[] = [{ RelayState: '/' }, { SAMLResponse: [valid, valid] }];
    for (const fields of cases) {
      await assertRefused(await postRaw(fields), 'invalid_argument', { status: 400 });
    }
    await assertRefused(await postRaw({ SAMLResponse: '' }), 'saml_invalid', { name: 'mallory-twice@example.com', reason: 'no_saml_response' });
  });

  test('JSON instead of the HTTP-POST binding form', async () => {
    const valid = b64(signedResponse(await answer({ nameId: 'mallory-json@example.com' })));
    postedResponses.push(valid);
    const response = await fetch(`${gw.url}/api/v1/saml/acs`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ SAMLResponse: valid }),
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('set-cookie'), null);
    assert.equal(await gw.gateway.store.findPrincipal('user', 'mallory-json@example.com'), null);
  });
});

describe('refused: the person', () => {
  test('a disabled user signs in correctly and is still refused', async () => {
    const name = 'nina@example.com';
    assert.equal((await post(signedResponse(await answer({ nameId: name })))).status, 303);
    const row = await gw.gateway.store.findPrincipal('user', name);
    await gw.gateway.store.disablePrincipal(row!.id, Date.now());
    const result = await post(signedResponse(await answer({ nameId: name })));
    assert.equal(result.status, 401);
    assert.equal(result.json.error.code, 'auth_revoked');
    assert.equal(result.setCookie, null);
  });

  test('a NameID that is blank or has control characters', async () => {
    for (const nameId of ['   ', 'eve\u0007@example.com']) {
      await assertRefused(await post(signedResponse(await answer({ nameId }))), 'saml_invalid', { reason: 'name_id' });
    }
  });
});

describe('what the browser and the log see', () => {
  test('a browser gets a short page with the code and no detail of which check failed', async () => {
    const o = await answer({ nameId: 'mallory-html@example.com', audience: 'https://other-sp.test' });
    const result = await post(signedResponse(o), {}, { accept: 'text/html,application/xhtml+xml' });
    assert.equal(result.status, 401);
    assert.match(result.contentType ?? '', /^text\/html/);
    assert.match(result.text, /saml_invalid/);
    assert.doesNotMatch(result.text, /audience|other-sp|mallory|signature|Error:|at \w+ \(/i);
    assert.equal(result.setCookie, null);
    refusedNames.push('mallory-html@example.com');
  });

  test('the metadata names our entity id and ACS URL and asks for signed assertions', async () => {
    const response = await fetch(`${gw.url}/api/v1/saml/metadata`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/samlmetadata\+xml/);
    const xml = await response.text();
    assert.match(xml, /entityID="https:\/\/gatehouse\.test\/api\/v1\/saml\/metadata"/);
    assert.match(xml, /WantAssertionsSigned="true"/);
    assert.match(xml, /Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-POST" Location="https:\/\/gatehouse\.test\/api\/v1\/saml\/acs"/);
  });

  test('the OpenAPI document lists the three routes as public, under the saml tag', async () => {
    const doc = await (await fetch(`${gw.url}/api/v1/openapi.json`)).json();
    const routes = [
      ['get', '/api/v1/saml/metadata'],
      ['get', '/api/v1/saml/login'],
      ['post', '/api/v1/saml/acs'],
    ] as const;
    for (const [method, path] of routes) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method} ${path}`);
      assert.deepEqual(op.security, [], `${path} takes no token`);
      assert.deepEqual(op.tags, ['saml']);
    }
    assert.ok(doc.tags.some((t: { name: string }) => t.name === 'saml'));
    assert.ok(doc.paths['/api/v1/saml/acs'].post.requestBody.content['application/x-www-form-urlencoded']);
  });

  test('the log has every refusal with its code and reason, but no token, no posted response and nothing a refused assertion said', () => {
    const text = gw.logs.join('');
    const logged = refusals();
    assert.ok(logged.length >= 30, `${logged.length} refusals logged`);
    for (const entry of logged) assert.ok(/^(saml_\w+|auth_revoked)$/.test(entry.code) && entry.reason, JSON.stringify(entry));
    assert.ok(logged.some((entry) => entry.code === 'auth_revoked' && entry.reason === 'user_disabled'));
    assert.ok(issuedSecrets.length >= 8);
    for (const secret of issuedSecrets) assert.ok(!text.includes(secret), 'a session token reached the log');
    assert.ok(!text.includes('gta_'));
    for (const encoded of postedResponses) assert.ok(!text.includes(encoded.slice(0, 60)), 'a posted response reached the log');
    for (const name of refusedNames) assert.ok(!text.includes(name), `${name} reached the log`);
    assert.ok(!/X509Certificate|SignatureValue|<saml/.test(text));
  });
});
