import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import { GatewayError, UpstreamError } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import { CREDENTIAL_HEADERS } from '../../classify/http.ts';
import { credentialValues, redactLiterals } from '../../connections/credential-echo.ts';
import { isSessionCookie } from '../../identity/session-cookie.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ones we recompute; never copied across the proxy. */
const HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/** Headers for the upstream: the client's, minus its credentials and hop headers, plus the gateway-held credential. */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  connection: Connection,
  bodyLength: number | null,
  identityEncoding: boolean,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_HEADERS.has(name) || name.startsWith('x-gatehouse-')) continue;
    // The agent's cookies are a session of its own with the upstream: only where the connection says so.
    if (CREDENTIAL_HEADERS.has(name) && !(name === 'cookie' && connection.passCookies)) continue;
    if (name === 'cookie') {
      const kept = withoutSessionCookie(value);
      if (kept !== null) out[name] = kept;
      continue;
    }
    out[name] = value;
  }
  // Masking reads the body, and so does the search for an echoed credential: neither can see
  // through a compression it does not undo.
  if (identityEncoding || connection.credential !== undefined) out['accept-encoding'] = 'identity';
  if (bodyLength !== null) out['content-length'] = String(bodyLength);
  const credential = connection.credential;
  if (credential) {
    switch (credential.type) {
      case 'bearer':
        out.authorization = `Bearer ${credential.value}`;
        break;
      case 'header':
        out[credential.header.toLowerCase()] = credential.value;
        break;
      case 'basic':
        out.authorization = `Basic ${Buffer.from(`${credential.username}:${credential.value}`).toString('base64')}`;
        break;
    }
  }
  return out;
}

/**
 * The Cookie header minus the gateway's own session cookie (a gta_ token a browser sends to every
 * path, /proxy/… included); null when nothing else is left.
 */
function withoutSessionCookie(value: string | string[]): string | null {
  const pairs = [value]
    .flat()
    .flatMap((line) => line.split(';'))
    .filter((pair) => pair.trim() !== '' && !isSessionCookie(pair.split('=', 1)[0]!));
  return pairs.length === 0 ? null : pairs.map((pair) => pair.trim()).join('; ');
}

/** Set-Cookie lines minus any for the gateway's session cookie, which no upstream may set or clear; undefined when none is left. */
function withoutSessionSetCookie(value: string | string[] | undefined): string[] | undefined {
  const kept = [value ?? []].flat().filter((line) => !isSessionCookie(line.split(';', 1)[0]!.split('=', 1)[0]!));
  return kept.length === 0 ? undefined : kept;
}

/**
 * Response headers left as they are under a masking profile: lengths and dates, which a detector
 * could only break, and only in their strict shape. An upstream can write anything into any
 * header (a token list or an ETag holds a secret as easily as a body), so every other value,
 * content-type and etag included, is masked like the rest (issue 19, item 6). The credential is
 * searched for in all of them.
 */
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
// Twelve digits at most: no card or account number fits.
const LENGTH = /^\d{1,12}$/;
const STRUCTURAL_HEADERS: ReadonlyMap<string, RegExp> = new Map([
  ['content-length', LENGTH],
  ['age', LENGTH],
  ['date', HTTP_DATE],
  ['last-modified', HTTP_DATE],
  ['expires', HTTP_DATE],
]);

const structural = (name: string, value: string | string[]): boolean => {
  const shape = STRUCTURAL_HEADERS.get(name);
  return shape !== undefined && [value].flat().every((v) => shape.test(v));
};

/**
 * Response headers for the client: the upstream's minus hop headers (and length when the body
 * changes), minus `set-cookie` unless the connection passes cookies (and even then minus any
 * that would set the gateway's session cookie). The connection's own
 * credential is replaced wherever it comes back (an upstream echoing request headers, a
 * `www-authenticate` quoting the key), and under a profile (`maskText`) every other value is
 * masked too. A header whose name holds the credential, or whose name the profile would mask,
 * is dropped: a name cannot be rewritten into something meaningful.
 */
export function clientResponseHeaders(
  upstream: IncomingHttpHeaders,
  keepLength: boolean,
  connection: Connection,
  maskText: ((text: string) => string) | null,
): OutgoingHttpHeaders {
  const echoes = credentialValues(connection.credential);
  const lowerEchoes = echoes.map((v) => v.toLowerCase());
  const mask = maskText ?? null;
  const out: OutgoingHttpHeaders = {};
  for (const [name, received] of Object.entries(upstream)) {
    const value = name === 'set-cookie' ? withoutSessionSetCookie(received) : received;
    if (value === undefined || (HOP_HEADERS.has(name) && !(keepLength && name === 'content-length'))) continue;
    if (name === 'set-cookie' && connection.passCookies !== true) continue;
    // Node lower-cases header names, so the credential is looked for in lower case there.
    if (lowerEchoes.some((v) => name.includes(v))) continue;
    const masker = mask !== null && !structural(name, value) ? mask : null;
    if (masker !== null && masker(name) !== name) continue;
    const clean = (text: string) => {
      const redacted = redactLiterals(text, echoes);
      return masker === null ? redacted : masker(redacted);
    };
    // x-request-id is the gateway's (it names the record); the upstream's own id stays readable beside it.
    out[name === 'x-request-id' ? 'x-upstream-request-id' : name] = Array.isArray(value) ? value.map(clean) : clean(value);
  }
  return out;
}

/** One keep-alive pool per connection origin, shared by every request to it. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly timeoutMs: number) {}

  pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: 256,
        keepAliveTimeout: 30_000,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connectTimeout: Math.min(this.timeoutMs, 10_000),
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

/** The upstream URL path for a proxied path: the connection's base path joined with the rest. */
export function upstreamPath(connection: Connection, restWithQuery: string): string {
  const base = connection.upstream.pathname.replace(/\/+$/, '');
  const rest = restWithQuery.startsWith('/') ? restWithQuery : `/${restWithQuery}`;
  return base + rest;
}

/** Turns an undici failure into a message a user can act on; never includes request headers. */
export function upstreamFailure(err: unknown, connection: Connection, timeoutMs: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const where = `connection "${connection.name}" (${connection.upstream.origin})`;
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError
  ) {
    return new UpstreamError('upstream_timeout', `upstream of ${where} did not answer within ${timeoutMs} ms`, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ECONNREFUSED' ? 'refused the connection' : code === 'ENOTFOUND' ? 'host not found' : `failed (${code ?? 'connection error'})`;
  return new UpstreamError('upstream_unreachable', `upstream of ${where} ${reason}`, { cause: err });
}
