import type { Detector } from '../types.ts';
import { decodeBase64UrlJson } from '../validators.ts';
import { PRIORITY } from './priority.ts';
import { regexDetector } from './regex-detector.ts';

// header.payload.signature, base64url; the header of a JSON object starts `{"` = `eyJ`.
const JWT = /(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![\w-]|\.[\w-])/g;

function hasAlgHeader(token: string): boolean {
  const header = decodeBase64UrlJson(token.slice(0, token.indexOf('.')));
  return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
}

export const jwtDetector: Detector = regexDetector({
  type: 'jwt',
  signalled: true,
  priority: PRIORITY.jwt,
  patterns: [JWT],
  accept: (m) => hasAlgHeader(m[0]),
  openPrefix: 'eyJ',
});
