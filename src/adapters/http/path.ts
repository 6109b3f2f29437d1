import type { IncomingHttpHeaders } from 'node:http';
import { BadRequest } from '../../errors.ts';

/**
 * The one form of a proxied request's path: what policy classifies and what the upstream receives.
 * Policy and the upstream must read the same path, or a rule on `request.http.path` or on an
 * interaction kind is beaten by any spelling the upstream resolves differently from the gateway
 * (`%63hat`, `x/../chat`, `//admin`). So the path is rewritten once, here, into a form every
 * upstream reads the same way, and whatever has no such form is refused.
 */
export interface ProxyTarget {
  /** The normalised path below the connection, always starting with `/`. */
  readonly path: string;
  /** The query string as sent, without its `?` (empty when there is none). */
  readonly query: string;
  /** `path`, plus `?query` when there is a query: the string to classify and to forward. */
  readonly target: string;
}

/** Longer paths are refused: upstreams cut them at different lengths (8 KiB is a common limit). */
export const MAX_PATH_LENGTH = 8192;

/**
 * Headers and parameters that make an upstream framework (Rails, Laravel, Symfony, Express's
 * method-override, ASP.NET, IIS) act on another method or path than the request line's: policy
 * would decide on one request and the upstream run another. They are refused, not stripped, so a
 * client never gets a different operation from the one it asked for.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
];

const OVERRIDE_PARAMETERS: ReadonlySet<string> = new Set(['_method', 'x-http-method-override', 'x-http-method', 'x-method-override']);

/**
 * Normalises `/<rest>[?query]` (the part after `/proxy/<connection>`), or throws BadRequest.
 *
 * The path: percent-encoded unreserved characters (RFC 3986 §2.3) are decoded, other
 * percent-encodings have their hex upper-cased, dot segments are resolved (§5.2.4), and empty
 * segments (doubled slashes) are dropped; a trailing slash is kept, since many APIs tell `/x` from
 * `/x/`. Refused: encoded slashes (`%2F`), backslashes (raw or
 * `%5C`), NUL and control characters, raw spaces and non-ASCII, `#`, `;` raw or encoded (matrix
 * parameters, which Java servers strip and others keep, some after decoding `%3B`),
 * malformed percent-encoding, double encoding (`%25` before two hex digits, which a server that
 * decodes twice turns into a different path), encodings that are not valid UTF-8 (overlong
 * `%C0%AE` is a dot to some decoders), characters that compatibility normalisation (NFKC) turns
 * into ASCII (a fullwidth `．` or `／`), and `..` that would climb above the connection's base path.
 *
 * The query is forwarded as sent; a method-override parameter in it is refused.
 */
export function normalizeProxyTarget(restWithQuery: string): ProxyTarget {
  const q = restWithQuery.indexOf('?');
  const rawPath = q === -1 ? restWithQuery : restWithQuery.slice(0, q);
  const query = q === -1 ? '' : restWithQuery.slice(q + 1);
  const path = normalizePath(rawPath);
  refuseOverrideParameters(query);
  return { path, query, target: query === '' ? path : `${path}?${query}` };
}

/** Normalises a path alone (see normalizeProxyTarget); an empty path is `/`. */
export function normalizePath(raw: string): string {
  if (raw.length > MAX_PATH_LENGTH) throw refused(`is longer than ${MAX_PATH_LENGTH} characters`);
  const decoded = decodeUnreserved(raw);
  const segments: string[] = [];
  const parts = decoded.split('/');
  for (let i = 0; i < parts.length; i++) {
    const segment = parts[i]!;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      // Above the root of the rest is above the connection's base path.
      if (segments.pop() === undefined) throw refused('climbs above the connection (`..`)');
      continue;
    }
    segments.push(segment);
  }
  const last = parts[parts.length - 1];
  // RFC 3986 §5.2.4: `/a/b/` stays a directory, and so does `/a/b/.` or `/a/b/c/..`.
  const trailing = segments.length > 0 && parts.length > 1 && (last === '' || last === '.' || last === '..');
  const path = `/${segments.join('/')}${trailing ? '/' : ''}`;
  if (/%25[0-9A-Fa-f]{2}/.test(path)) throw refused('is percent-encoded twice (`%25` before hex digits)');
  refuseConfusables(path);
  return path;
}

/**
 * Refuses the headers that override a request's method or path (OVERRIDE_HEADERS). Node lower-cases
 * header names, so every spelling of them arrives here as one.
 */
export function refuseOverrideHeaders(headers: IncomingHttpHeaders): void {
  for (const name of OVERRIDE_HEADERS) {
    if (headers[name] !== undefined) {
      throw new BadRequest(`the ${name} header is not accepted: send the request with its real method and path`, { details: { header: name } });
    }
  }
}

/**
 * Whether a form or query parameter name overrides the method. Names are compared as frameworks
 * read them: percent-decoded, `+` as a space, case-folded, and with PHP's rewriting of a leading
 * space or dot to `_` and of a trailing `[...]` (array syntax) applied.
 */
export function isOverrideParameter(rawName: string): boolean {
  let name = lenientDecode(rawName.replace(/\+/g, ' ')).toLowerCase().trim();
  name = name.replace(/^[ .]/, '_').replace(/\[.*$/, '');
  return OVERRIDE_PARAMETERS.has(name);
}

function refuseOverrideParameters(query: string): void {
  if (query === '') return;
  // `;` separates parameters too for some servers (Python before 3.9.2, Tomcat's legacy parsing).
  for (const pair of query.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    if (isOverrideParameter(eq === -1 ? pair : pair.slice(0, eq))) {
      throw new BadRequest('a method-override parameter (`_method`) is not accepted: send the request with its real method');
    }
  }
}

const HEX = /^[0-9A-Fa-f]{2}$/;

/** RFC 3986 §2.3: decoding these never changes what a URI means, so everyone must read them decoded. */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e
  );
}

/** Decodes unreserved characters, upper-cases the hex of the rest, refuses what no upstream agrees on. */
function decodeUnreserved(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw refused('holds malformed percent-encoding');
      const byte = parseInt(hex, 16);
      if (byte === 0x2f) throw refused('holds an encoded slash (`%2F`)');
      if (byte === 0x5c) throw refused('holds an encoded backslash (`%5C`)');
      // Some servers decode before they strip matrix parameters (Spring's firewall refuses `%3B` for that reason).
      if (byte === 0x3b) throw refused('holds an encoded `;` (`%3B`)');
      if (byte < 0x20 || byte === 0x7f) throw refused('holds an encoded control character');
      out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${hex.toUpperCase()}`;
      i += 2;
      continue;
    }
    if (code <= 0x20 || code === 0x7f) throw refused('holds a space or control character');
    if (code > 0x7e) throw refused('holds a character that is not percent-encoded (non-ASCII)');
    if (code === 0x5c) throw refused('holds a backslash');
    if (code === 0x3b) throw refused('holds `;` (matrix parameters)');
    if (code === 0x23) throw refused('holds `#`');
    out += raw[i];
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The path as a server that decodes it would read it must hold no overlong or invalid UTF-8, and no
 * character that NFKC folds into ASCII (`．`, `／`, `ａｄｍｉｎ`, `․․`): servers that apply either
 * would route it to a path the rules never saw.
 */
function refuseConfusables(path: string): void {
  if (!path.includes('%')) return;
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '%') {
      bytes.push(parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(path.charCodeAt(i));
  }
  let text: string;
  try {
    text = utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw refused('holds percent-encoded bytes that are not valid UTF-8 (overlong or truncated)');
  }
  for (const char of text) {
    if (char.charCodeAt(0) < 0x80) continue;
    if (/[\u0000-\u007f]/.test(char.normalize('NFKC'))) throw refused(`holds ${JSON.stringify(char)}, which compatibility normalisation turns into ASCII`);
  }
}

/** Decodes valid `%XX` byte by byte as Latin-1 and leaves the rest, as lenient servers do. */
function lenientDecode(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function refused(why: string): BadRequest {
  return new BadRequest(`the request path ${why}; it was not forwarded`);
}
