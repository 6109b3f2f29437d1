/**
 * The posted SAMLResponse before any signature is looked at: strict base64, bounded, UTF-8, and
 * free of what no identity provider sends but attacks use: a DTD (entity expansion, external
 * entities), comments (a comment inside a signed NameID is dropped by canonicalisation, so
 * `alice@example.com<!---->.evil.test` verifies yet reads differently to a careless parser), and
 * processing instructions. Then the root must be a protocol Response addressed, if at all, to us.
 */
import { parseDomFromString } from '@node-saml/node-saml/lib/xml.js';
import { Refusal } from './refusal.ts';

/** Responses with a few hundred groups stay far below this; the ACS route's body limit matches it in base64. */
export const MAX_RESPONSE_BYTES = 192 * 1024;

const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
// Some providers wrap base64 at 64 or 76 characters.
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface PostedResponse {
  /** The base64 without line breaks, as node-saml reads it. */
  readonly base64: string;
}

export async function readPostedResponse(value: unknown, acsUrl: string): Promise<PostedResponse> {
  if (typeof value !== 'string' || value.length === 0) throw new Refusal('saml_invalid', 'no_saml_response');
  const base64 = value.replace(/[\r\n]/g, '');
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) throw new Refusal('saml_invalid', 'not_base64');
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length > MAX_RESPONSE_BYTES) throw new Refusal('saml_invalid', 'too_large');
  let xml: string;
  try {
    xml = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Refusal('saml_invalid', 'not_utf8');
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new Refusal('saml_invalid', 'dtd');
  if (xml.includes('<!--')) throw new Refusal('saml_invalid', 'comment');
  if (/<\?/.test(xml.replace(/^\uFEFF?<\?xml\s[^?]*\?>/, ''))) throw new Refusal('saml_invalid', 'processing_instruction');

  let root: Element;
  try {
    root = (await parseDomFromString(xml)).documentElement;
  } catch {
    throw new Refusal('saml_invalid', 'malformed');
  }
  if (root.localName !== 'Response' || root.namespaceURI !== PROTOCOL_NS) throw new Refusal('saml_invalid', 'not_a_response');
  // Optional when only the assertion is signed; when present it must name us (SAML core 3.2.2).
  if (root.hasAttribute('Destination') && root.getAttribute('Destination') !== acsUrl) throw new Refusal('saml_invalid', 'destination');
  return { base64 };
}
