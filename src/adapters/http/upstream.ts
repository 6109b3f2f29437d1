import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import { GatewayError, UpstreamError } from '../../errors.ts';
import type { Connection } from '../../connections/registry.ts';
import { CREDENTIAL_HEADERS } from '../../classify/http.ts';

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
    if (value === undefined || HOP_HEADERS.has(name) || CREDENTIAL_HEADERS.has(name) || name.startsWith('x-gatehouse-')) continue;
    out[name] = value;
  }
  // Masking reads the body, which it cannot do through a compression it does not undo.
  if (identityEncoding) out['accept-encoding'] = 'identity';
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

/** Response headers for the client: the upstream's minus hop headers (and length when the body changes). */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, keepLength: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || (HOP_HEADERS.has(name) && !(keepLength && name === 'content-length'))) continue;
    // x-request-id is the gateway's (it names the record); the upstream's own id stays readable beside it.
    out[name === 'x-request-id' ? 'x-upstream-request-id' : name] = value;
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
