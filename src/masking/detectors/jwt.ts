import type { Detector } from '../types.ts';
import { decodeBase64UrlJson } from '../validators.ts';
import { anchoredDetector } from './anchored-detector.ts';
import { PRIORITY } from './priority.ts';

// header.payload.signature, base64url; the header of a JSON object starts `{"` = `eyJ`.
const JWT = /(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![\w-]|\.[\w-])/y;

function hasAlgHeader(token: string): boolean {
  const header = decodeBase64UrlJson(token.slice(0, token.indexOf('.')));
  return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
}

export const jwtDetector: Detector = anchoredDetector({
  type: 'jwt',
  priority: PRIORITY.jwt,
  // `J` is rare in text, `e` is the most common letter.
  anchor: 'J',
  prefixes: ['eyJ'],
  pattern: JWT,
  accept: hasAlgHeader,
  openPrefix: 'eyJ',
});
