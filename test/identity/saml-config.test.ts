/** identity.saml through the real config loader: certificate forms, defaults and what is refused. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { createTestIdp, type TestIdp } from '../support/saml-idp.ts';

let a: TestIdp;
let b: TestIdp;
before(async () => {
  [a, b] = await Promise.all([createTestIdp('a'), createTestIdp('b')]);
});

function load(saml: string, env: Record<string, string> = {}) {
  return parseConfig(`identity:\n  saml:\n${saml.replace(/^/gm, '    ')}\n`, 'gatehouse.yaml', env).identity.saml;
}

const BASE = 'baseUrl: https://gatehouse.example.com\nidp:\n  entityId: http://www.okta.com/exk1\n  ssoUrl: https://example.okta.com/app/exk1/sso/saml\n';

test('a PEM from the environment, with the defaults filled in', () => {
  const saml = load(`${BASE}  certificate: \${SAML_IDP_CERT}`, { SAML_IDP_CERT: a.cert });
  assert.ok(saml);
  assert.equal(saml.entityId, 'https://gatehouse.example.com/api/v1/saml/metadata');
  assert.equal(saml.groupsAttribute, 'groups');
  assert.equal(saml.usernameAttribute, undefined);
  assert.equal(saml.sessionTtl, 8 * 3600_000);
  assert.equal(saml.clockSkew, 60_000);
  assert.equal(saml.idp.certificate.length, 1);
  assert.equal(new X509Certificate(saml.idp.certificate[0]!).fingerprint256, new X509Certificate(a.cert).fingerprint256);
});

test('bare base64, several PEM blocks in one value, and a list all give one PEM per certificate', () => {
  assert.equal(load(`${BASE}  certificate: ${a.certBase64}`)!.idp.certificate.length, 1);
  assert.equal(load(`${BASE}  certificate: \${C}`, { C: a.cert + b.cert })!.idp.certificate.length, 2);
  const listed = load(`${BASE}  certificate:\n    - \${A}\n    - ${b.certBase64}`, { A: a.cert })!.idp.certificate;
  assert.deepEqual(
    listed.map((pem) => new X509Certificate(pem).fingerprint256),
    [a.cert, b.cert].map((pem) => new X509Certificate(pem).fingerprint256),
  );
});

test('a trailing slash on baseUrl is dropped', () => {
  assert.equal(load(`baseUrl: https://gatehouse.example.com/\nidp:\n  entityId: e\n  ssoUrl: https://idp.example/sso\n  certificate: ${a.certBase64}`)!.entityId, 'https://gatehouse.example.com/api/v1/saml/metadata');
});

const INVALID: [string, string][] = [
  ['a certificate that is not one', `${BASE}  certificate: not-a-certificate`],
  ['base64 that is no certificate', `${BASE}  certificate: QUJDRA==`],
  ['an empty list of certificates', `${BASE}  certificate: []`],
  ['a baseUrl with a path', `baseUrl: https://gatehouse.example.com/gw\nidp:\n  entityId: e\n  ssoUrl: https://idp.example/sso\n  certificate: ${'x'}`],
  ['a baseUrl that is not http(s)', `baseUrl: ftp://gatehouse.example.com\nidp:\n  entityId: e\n  ssoUrl: https://idp.example/sso\n  certificate: x`],
  ['an ssoUrl that is not a URL', `baseUrl: https://g.example.com\nidp:\n  entityId: e\n  ssoUrl: okta\n  certificate: x`],
  ['a session longer than a day', `${BASE}  certificate: ${'CERT'}\nsessionTtl: 2d`],
  ['a clock skew over five minutes', `${BASE}  certificate: ${'CERT'}\nclockSkew: 10m`],
  ['an unknown key', `${BASE}  certificate: ${'CERT'}\nwantAssertionsSigned: false`],
  ['no idp', 'baseUrl: https://g.example.com'],
];

test('refused at load, naming the key', () => {
  for (const [name, text] of INVALID) {
    assert.throws(
      () => load(text.replaceAll('CERT', a.certBase64)),
      (err: unknown) => err instanceof ConfigError && /identity\.saml/.test(err.message),
      name,
    );
  }
});
