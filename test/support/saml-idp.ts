/**
 * A test SAML identity provider: a key and certificate generated per run (selfsigned), responses
 * built as Okta and Entra shape them, and XML signatures made with xml-crypto. Helpers take the
 * sign-in request id from the gateway's real redirect and post to its real assertion consumer.
 */
import { inflateRawSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';

export interface TestIdp {
  readonly entityId: string;
  readonly ssoUrl: string;
  readonly key: string;
  readonly cert: string;
  /** The certificate without PEM armour, as IdP metadata shows it. */
  readonly certBase64: string;
}

export async function createTestIdp(name = 'idp'): Promise<TestIdp> {
  const pems = await generate([{ name: 'commonName', value: `${name}.test` }], { keySize: 2048, algorithm: 'sha256' });
  return {
    entityId: `https://${name}.test/entity`,
    ssoUrl: `https://${name}.test/sso/saml`,
    key: pems.private,
    cert: pems.cert,
    certBase64: pems.cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''),
  };
}

export const SP = {
  baseUrl: 'https://gatehouse.test',
  entityId: 'https://gatehouse.test/api/v1/saml/metadata',
  acsUrl: 'https://gatehouse.test/api/v1/saml/acs',
} as const;

/** identity.saml for startTestGateway's extraYaml; the certificates inline as bare base64. */
export function samlYaml(
  idp: TestIdp,
  extra: { certs?: readonly string[]; usernameAttribute?: string; sessionTtl?: string; identityYaml?: string; baseUrl?: string } = {},
): string {
  const certs = extra.certs ?? [idp.certBase64];
  // Without a baseUrl of its own the entity id is given; with one, it defaults to that origin's metadata URL.
  return `
identity:
${extra.identityYaml ?? ''}  saml:
${extra.baseUrl ? '' : `    entityId: ${SP.entityId}\n`}    baseUrl: ${extra.baseUrl ?? SP.baseUrl}
    idp:
      entityId: ${idp.entityId}
      ssoUrl: ${idp.ssoUrl}
      certificate: [${certs.join(', ')}]
    groupsAttribute: groups
${extra.usernameAttribute ? `    usernameAttribute: ${extra.usernameAttribute}\n` : ''}    sessionTtl: ${extra.sessionTtl ?? '8h'}
    clockSkew: 60s
`;
}

const xmlEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (ms: number) => new Date(ms).toISOString();

export interface ResponseOptions {
  readonly idp: TestIdp;
  /** The gateway's sign-in request this answers; null for an IdP-initiated response. */
  readonly inResponseTo: string | null;
  readonly nameId?: string;
  readonly attributes?: Readonly<Record<string, readonly string[]>>;
  readonly now?: number;
  readonly issuer?: string;
  readonly audience?: string;
  readonly recipient?: string;
  /** On the Response element; null leaves it out. */
  readonly destination?: string | null;
  readonly assertionId?: string;
  readonly issueInstant?: number;
  readonly notBefore?: number;
  readonly notOnOrAfter?: number;
  readonly confirmationNotOnOrAfter?: number;
  /** InResponseTo inside the signed confirmation; defaults to `inResponseTo`, null leaves it out. */
  readonly confirmationInResponseTo?: string | null;
}

export function buildAssertion(o: ResponseOptions): string {
  const now = o.now ?? Date.now();
  const answer = o.confirmationInResponseTo === undefined ? o.inResponseTo : o.confirmationInResponseTo;
  const attributes = Object.entries(o.attributes ?? { groups: ['engineering', 'gatehouse-admins'] })
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">` +
        values.map((v) => `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`).join('') +
        '</saml:Attribute>',
    )
    .join('');
  return (
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${o.assertionId ?? `_a${randomUUID().replace(/-/g, '')}`}" IssueInstant="${iso(o.issueInstant ?? now)}" Version="2.0">` +
    `<saml:Issuer>${xmlEscape(o.issuer ?? o.idp.entityId)}</saml:Issuer>` +
    '<saml:Subject>' +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${xmlEscape(o.nameId ?? 'alice@example.com')}</saml:NameID>` +
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
    `<saml:SubjectConfirmationData ${answer ? `InResponseTo="${xmlEscape(answer)}" ` : ''}NotOnOrAfter="${iso(o.confirmationNotOnOrAfter ?? o.notOnOrAfter ?? now + 5 * 60_000)}" Recipient="${xmlEscape(o.recipient ?? SP.acsUrl)}"/>` +
    '</saml:SubjectConfirmation>' +
    '</saml:Subject>' +
    `<saml:Conditions NotBefore="${iso(o.notBefore ?? now - 60_000)}" NotOnOrAfter="${iso(o.notOnOrAfter ?? now + 5 * 60_000)}">` +
    `<saml:AudienceRestriction><saml:Audience>${xmlEscape(o.audience ?? SP.entityId)}</saml:Audience></saml:AudienceRestriction>` +
    '</saml:Conditions>' +
    `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="_s${randomUUID()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    '</saml:Assertion>'
  );
}

/** A Response around `assertionXml` (already signed or not). */
export function wrapInResponse(o: ResponseOptions, assertionXml: string): string {
  const now = o.now ?? Date.now();
  const destination = o.destination === undefined ? SP.acsUrl : o.destination;
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${randomUUID().replace(/-/g, '')}" Version="2.0" IssueInstant="${iso(now)}"` +
    `${destination !== null ? ` Destination="${xmlEscape(destination)}"` : ''}${o.inResponseTo ? ` InResponseTo="${xmlEscape(o.inResponseTo)}"` : ''}>` +
    `<saml:Issuer>${xmlEscape(o.issuer ?? o.idp.entityId)}</saml:Issuer>` +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    assertionXml +
    '</samlp:Response>'
  );
}

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';

/** An enveloped signature over the element `xpath` selects, placed after its Issuer as SAML's schema wants. */
export function signElement(xml: string, xpath: string, signer: Pick<TestIdp, 'key' | 'cert'>): string {
  const sig = new SignedXml({ privateKey: signer.key, publicCert: signer.cert, signatureAlgorithm: RSA_SHA256, canonicalizationAlgorithm: EXC_C14N });
  sig.addReference({ xpath, transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', EXC_C14N], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
  sig.computeSignature(xml, { location: { reference: `${xpath}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

export const ASSERTION_XPATH = "//*[local-name(.)='Assertion']";
export const RESPONSE_XPATH = "/*[local-name(.)='Response']";

export function signedAssertion(o: ResponseOptions, signer: Pick<TestIdp, 'key' | 'cert'> = o.idp): string {
  return signElement(buildAssertion(o), ASSERTION_XPATH, signer);
}

/** The usual shape (Okta's and Entra's default): the assertion signed, the response not. */
export function signedResponse(o: ResponseOptions, signer: Pick<TestIdp, 'key' | 'cert'> = o.idp): string {
  return wrapInResponse(o, signedAssertion(o, signer));
}

export const b64 = (xml: string | Buffer) => Buffer.from(xml).toString('base64');

/** Starts a sign-in at the gateway; returns the AuthnRequest it sent and where it sent it. */
export async function startLogin(gatewayUrl: string, relay?: string): Promise<{ requestId: string; location: URL; request: string; status: number }> {
  const query = relay === undefined ? '' : `?relay=${encodeURIComponent(relay)}`;
  const response = await fetch(`${gatewayUrl}/api/v1/saml/login${query}`, { redirect: 'manual' });
  await response.arrayBuffer();
  const location = new URL(response.headers.get('location') ?? 'about:blank');
  const encoded = location.searchParams.get('SAMLRequest');
  if (response.status !== 302 || !encoded) throw new Error(`login answered ${response.status} without a SAMLRequest`);
  const request = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
  const requestId = /\sID="([^"]+)"/.exec(request)?.[1];
  if (!requestId) throw new Error('no ID in the AuthnRequest');
  return { requestId, location, request, status: response.status };
}

export interface AcsAnswer {
  readonly status: number;
  readonly location: string | null;
  readonly setCookie: string | null;
  readonly contentType: string | null;
  readonly text: string;
  readonly json: any;
}

/** Posts a form to the assertion consumer as a browser would, without following the redirect. */
export async function postAcs(gatewayUrl: string, fields: Record<string, string | readonly string[]> | string, headers: Record<string, string> = {}): Promise<AcsAnswer> {
  const body =
    typeof fields === 'string'
      ? fields
      : new URLSearchParams(Object.entries(fields).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x: string) => [k, x]) : [[k, v as string]]))).toString();
  const response = await fetch(`${gatewayUrl}/api/v1/saml/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // HTML error page or empty redirect body
  }
  return {
    status: response.status,
    location: response.headers.get('location'),
    setCookie: response.headers.get('set-cookie'),
    contentType: response.headers.get('content-type'),
    text,
    json,
  };
}

/** The gta_ token in a Set-Cookie header for the session cookie (`__Host-gatehouse_session` over https). */
export function sessionToken(setCookie: string | null): string | null {
  return /^(?:__Host-)?gatehouse_session=([^;]+)/.exec(setCookie ?? '')?.[1] ?? null;
}
