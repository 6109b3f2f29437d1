import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { BadRequest, BodyTooLarge, GatewayError, MaskingError, toGatewayError, UnknownConnection } from '../../errors.ts';
import type { ConnectionRegistry, Connection } from '../../connections/registry.ts';
import type { Admission, ForwardResult, Pipeline } from '../../pipeline.ts';
import type { RequestLine } from '../../adapter-contract.ts';
import type { Metrics } from '../../metrics.ts';
import { writeError } from './render.ts';
import { isBufferedBody, toRequestDraft } from './to-interaction.ts';
import { clientResponseHeaders, upstreamFailure, upstreamPath, upstreamRequestHeaders, UpstreamPools } from './upstream.ts';
import { normalizeProxyTarget } from './path.ts';
import { outgoingRequestBody } from '../../masking/index.ts';
import { credentialValues, guardResponseMasker } from '../../connections/credential-echo.ts';
import { providerFor } from '../../providers/registry.ts';
import { providerRoute } from '../../providers/draft.ts';
import type { LlmProvider, TokenUsage, UsageMeter } from '../../providers/types.ts';

export interface HttpProxyOptions {
  readonly pipeline: Pipeline;
  readonly connections: ConnectionRegistry;
  readonly pools: UpstreamPools;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly bodyLimit: number;
  readonly upstreamTimeoutMs: number;
  readonly trustProxy: boolean;
}

export const PROXY_PREFIX = '/proxy/';

function credentialOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const match = /^Bearer\s+(.+)$/i.exec(auth);
    return match?.[1]?.trim();
  }
  const key = req.headers['x-api-key'];
  return typeof key === 'string' ? key.trim() : undefined;
}

/** Reads a whole body, or returns null as soon as it passes `limit` bytes. */
async function readAll(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge(limit);
  const body = await readAll(req, limit);
  if (body === null) throw tooLarge(limit);
  return body;
}

function tooLarge(limit: number): GatewayError {
  return new BodyTooLarge(`request body exceeds the gateway's limit of ${limit} bytes (http.bodyLimit)`);
}

const HOLD_UNTIL_WAIT = Object.freeze({ until: 'wait' as const });

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function byteLength(chunk: Buffer | string): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
}

/** Splits `/proxy/<connection>/<rest>`; a connection name that is not valid percent-encoding is a bad request. */
function splitProxyUrl(url: string): { name: string; rest: string } {
  const afterPrefix = url.slice(PROXY_PREFIX.length);
  const slash = afterPrefix.search(/[/?]/);
  const raw = slash === -1 ? afterPrefix : afterPrefix.slice(0, slash);
  const rest = slash === -1 ? '/' : afterPrefix[slash] === '?' ? `/${afterPrefix.slice(slash)}` : afterPrefix.slice(slash);
  try {
    return { name: decodeURIComponent(raw), rest };
  } catch {
    throw new BadRequest('the connection name in the path is not valid percent-encoding');
  }
}

/**
 * The HTTP and OpenAI-compatible adapter: `/proxy/<connection>/<path>`. It reads the wire, hands the
 * runner a draft, forwards what the runner admits with the gateway-held credential, and streams the
 * response back through the masker the admission picks.
 */
export function createHttpProxy(options: HttpProxyOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { pipeline, connections, pools, metrics, logger } = options;

  const clientAddrOf = (req: IncomingMessage): string | null => {
    if (options.trustProxy) {
      const forwarded = req.headers['x-forwarded-for'];
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? null;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, reply: { provider: LlmProvider | null }): Promise<void> {
    const method = req.method ?? 'GET';
    const clientAddr = clientAddrOf(req);
    const url = req.url ?? '/';
    let name: string;
    let rest: string;
    try {
      ({ name, rest } = splitProxyUrl(url));
    } catch (err) {
      const line: RequestLine = { kind: 'http.request', method, target: null };
      throw await pipeline.refuseLogin({ connection: '', protocol: 'http', clientAddr, line, requestId }, toGatewayError(err));
    }
    // An inference provider's SDK sends its key where the provider reads it (providers/): that key is the Gatehouse token, and never goes upstream.
    const provider = providerFor(connections.get(name)?.type ?? 'http');
    reply.provider = provider;
    let secret: string | undefined;
    try {
      secret = provider === null ? credentialOf(req) : provider.clientSecret(req.headers, new URLSearchParams(rest.split('?')[1] ?? ''));
      if (provider !== null) rest = provider.upstreamTarget(rest);
    } catch (err) {
      const line: RequestLine = { kind: 'http.request', method, target: rest.split('?')[0] ?? '/' };
      throw await pipeline.refuseLogin({ connection: name, protocol: 'http', clientAddr, line, requestId }, toGatewayError(err));
    }
    const line: RequestLine = { kind: 'http.request', method, target: rest.split('?')[0] ?? '/' };
    const session = await pipeline.sharedSession({ secret, connection: name, protocol: 'http', clientAddr, line, requestId });

    const client = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) client.abort(new BadRequest('client closed the connection'));
    });
    // The connection the draft was classified for is the one forwarded to, even if it is replaced meanwhile.
    let connection: Connection | undefined;
    const draft = async () => {
      connection = connections.get(name);
      if (!connection) throw new UnknownConnection(`connection "${name}" was removed`);
      // Normalised once, here: the draft classifies, and forward() sends, this same target.
      rest = normalizeProxyTarget(rest).target;
      const raw = isBufferedBody(req.headers) ? await readBody(req, options.bodyLimit).catch(closeAfter(res)) : null;
      return toRequestDraft(connection, method, rest, req.headers, raw, options.bodyLimit);
    };
    await pipeline.run(session, draft, (admission) => forward(req, res, connection!, rest, admission, client.signal), {
      signal: client.signal,
      requestId,
      line,
      // The client blocks while its request waits for approval, up to the rule's `wait`.
      hold: HOLD_UNTIL_WAIT,
    });
  }

  async function forward(req: IncomingMessage, res: ServerResponse, connection: Connection, rest: string, admission: Admission, clientGone: AbortSignal): Promise<ForwardResult> {
    const body = admission.body;
    // The bytes as sent while nothing was masked; the masked text, re-encoded, when something was.
    const out = outgoingRequestBody(body, req.headers['content-type']);
    const payload: Buffer | IncomingMessage | undefined = out !== null ? out.bytes : body.type === 'opaque' ? req : undefined;
    const length = out !== null ? out.bytes.length : payload ? Number(req.headers['content-length'] ?? NaN) : null;
    const provider = providerFor(connection.type);
    // A provider's credential goes in its own form (below), never as the generic Authorization.
    const upstreamHeaders = upstreamRequestHeaders(req.headers, provider === null ? connection : { ...connection, credential: undefined }, Number.isFinite(length) ? length : null, admission.masked);
    if (out?.dropContentEncoding) delete upstreamHeaders['content-encoding'];
    if (out?.contentType) upstreamHeaders['content-type'] = out.contentType;
    const http = admission.interaction.summary.http;
    const route = provider !== null && http !== undefined ? providerRoute(provider, req.method ?? 'GET', http) : null;
    const streaming = provider !== null && route !== null && provider.streams(route, admission.interaction.summary.llm);
    if (provider !== null) {
      // Usage is read off the response, which compression would hide.
      upstreamHeaders['accept-encoding'] = 'identity';
      const path = upstreamPath(connection, rest);
      await provider.applyCredential(upstreamHeaders, connection.credential, {
        connection: connection.name,
        signal: admission.signal,
        method: req.method ?? 'GET',
        url: new URL(path, connection.upstream.origin),
        body: out?.bytes ?? null,
      });
    }
    // A revoked credential cuts the live response at once, whatever it is waiting on.
    const cut = () => res.destroy();
    admission.signal.addEventListener('abort', cut, { once: true });

    let bytesOut = 0;
    let status: number | null = null;
    let upstream: Dispatcher.ResponseData | null = null;
    try {
      upstream = await pools.pool(connection.upstream.origin).request({
        method: req.method as Dispatcher.HttpMethod,
        path: upstreamPath(connection, rest),
        headers: upstreamHeaders,
        body: payload,
        signal: admission.signal,
      });
      status = upstream.statusCode;
      // Reading surfaces the body's errors; a body left unread (withheld, or after a failure) is
      // destroyed, and undici then emits an error nobody would read, which would end the process.
      upstream.body.on('error', ignore);
      // The connection's own credential is searched for in whatever comes back, masked or not.
      const echoes = credentialValues(connection.credential);
      const masker = guardResponseMasker(
        admission.responseMasker({
          connectionType: connection.type,
          contentType: String(upstream.headers['content-type'] ?? ''),
          contentEncoding: String(upstream.headers['content-encoding'] ?? ''),
          ...(streaming && route !== null ? { streamFormat: route.streamFormat } : {}),
        }),
        echoes,
      );
      const maskHeader = admission.masked ? admission.maskText : null;
      const meter: UsageMeter | null = route !== null && status >= 200 && status < 300 ? provider!.usageMeter(route, streaming, String(upstream.headers['content-type'] ?? '')) : null;
      let usage: TokenUsage | null = null;

      if (masker.mode === 'body') {
        const raw = await readAll(upstream.body as AsyncIterable<Buffer>, options.bodyLimit);
        if (raw === null) throw new MaskingError(`the response is larger than ${options.bodyLimit} bytes (http.bodyLimit) and cannot be scanned; it was withheld`);
        meter?.push(raw);
        usage = meter?.end() ?? null;
        const masked = masker.mask(raw);
        const headers = clientResponseHeaders(upstream.headers, false, connection, maskHeader);
        if (masker.decodes) delete headers['content-encoding'];
        headers['content-length'] = byteLength(masked.body);
        res.writeHead(status, headers);
        res.end(masked.body);
        return { responseStatus: status, responseBody: masked.transcript, bytesOut: byteLength(masked.body), usage };
      }

      const headers = clientResponseHeaders(upstream.headers, !admission.masked && echoes.length === 0, connection, maskHeader);
      if (masker.decodes) delete headers['content-encoding'];
      res.writeHead(status, headers);
      res.flushHeaders();
      try {
        for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
          meter?.push(chunk);
          const out = masker.push(chunk);
          if (out.length === 0) continue;
          bytesOut += byteLength(out);
          if (!res.write(out)) await waitDrain(res);
        }
        usage = meter?.end() ?? null;
        const tail = masker.end();
        bytesOut += byteLength(tail);
        res.end(tail);
      } catch (err) {
        if (!(err instanceof MaskingError)) throw err;
        // The stream is already under way: it ends with an error its client can read, never with unmasked bytes.
        const tail = masker.failure(err);
        bytesOut += byteLength(tail);
        res.end(tail);
        return { responseStatus: status, responseBody: masker.transcript(), bytesOut, error: err, usage: meter?.end() ?? null };
      }
      return { responseStatus: status, responseBody: masker.transcript(), bytesOut, usage };
    } catch (err) {
      // The admission's signal carries whichever ended first: the client, or the credential.
      if (clientGone.aborted && admission.signal.reason === clientGone.reason) {
        res.destroy();
        return { responseStatus: status, responseBody: null, bytesOut, clientAborted: true };
      }
      if (admission.signal.aborted) throw toGatewayError(admission.signal.reason);
      const error = upstreamFailure(err, connection, options.upstreamTimeoutMs);
      if (error.code.startsWith('upstream')) metrics.upstreamErrors.inc({ connection: connection.name, code: error.code });
      throw error;
    } finally {
      admission.signal.removeEventListener('abort', cut);
      // Whatever was not read (a withheld response, a failure) is released, never left to error later.
      if (upstream !== null && !upstream.body.destroyed) upstream.body.destroy();
    }
  }

  return (req, res) => {
    const requestId = pipeline.requestId();
    res.setHeader('x-request-id', requestId);
    const reply: { provider: LlmProvider | null } = { provider: null };
    handle(req, res, requestId, reply).catch((err) => {
      const error = toGatewayError(err);
      if (error.code === 'internal') logger.error({ err, url: req.url?.split('?')[0] }, 'proxy request failed');
      if (reply.provider !== null) writeProviderError(res, reply.provider, error);
      else writeError(res, error);
    });
  };
}

function ignore(): void {}

/** An error in the provider's own shape, so its SDK raises the matching exception. */
function writeProviderError(res: ServerResponse, provider: LlmProvider, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const reply = provider.errorResponse(error);
  res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

/** A body refused before it was read whole leaves bytes on the socket: the connection cannot be reused. */
function closeAfter(res: ServerResponse): (err: unknown) => never {
  return (err) => {
    res.setHeader('connection', 'close');
    throw err;
  };
}
