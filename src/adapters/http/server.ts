import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { GatewayError, MaskingError, toGatewayError } from '../../errors.ts';
import type { ConnectionRegistry, Connection } from '../../connections/registry.ts';
import type { Admission, Pipeline, Session } from '../../pipeline.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import type { Metrics } from '../../metrics.ts';
import { reassembleSseTranscript } from '../../audit/stream-transcript.ts';
import { writeError } from './render.ts';
import { isBufferedBody, toRequestDraft } from './to-interaction.ts';
import { clientResponseHeaders, upstreamFailure, upstreamPath, upstreamRequestHeaders, UpstreamPools } from './upstream.ts';

export interface HttpProxyOptions {
  readonly pipeline: Pipeline;
  readonly connections: ConnectionRegistry;
  readonly pools: UpstreamPools;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly bodyLimit: number;
  readonly upstreamTimeoutMs: number;
  /** How much of a response is kept for the recording (streams are reassembled from up to 1 MiB). */
  readonly recordBytes: number;
  readonly trustProxy: boolean;
}

export const PROXY_PREFIX = '/proxy/';
const STREAM_RECORD_BYTES = 1024 * 1024;
const TEXTUAL = /^(application\/(json|[\w.+-]*\+json|x-ndjson|xml|[\w.+-]*\+xml|x-www-form-urlencoded)|text\/)/i;

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
  return new GatewayError('body_too_large', `request body exceeds the gateway's limit of ${limit} bytes (http.bodyLimit)`);
}

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

/** Keeps the first `limit` bytes of what was sent, for the recording. */
class Capture {
  private readonly parts: string[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  add(chunk: Buffer | string): void {
    if (this.size >= this.limit) return;
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.parts.push(text);
    this.size += text.length;
  }
  text(): string {
    return this.parts.join('');
  }
}

/**
 * The HTTP and OpenAI-compatible adapter: `/proxy/<connection>/<path>`. It reads the wire, hands a
 * draft to the pipeline, forwards what the pipeline admits with the gateway-held credential, and
 * streams the response back through the admission's maskers.
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const afterPrefix = url.slice(PROXY_PREFIX.length);
    const slash = afterPrefix.search(/[/?]/);
    const name = decodeURIComponent(slash === -1 ? afterPrefix : afterPrefix.slice(0, slash));
    const rest = slash === -1 ? '/' : afterPrefix[slash] === '?' ? `/${afterPrefix.slice(slash)}` : afterPrefix.slice(slash);
    const method = req.method ?? 'GET';
    const clientAddr = clientAddrOf(req);
    const request = { method, target: rest.split('?')[0] ?? '/', kind: 'http.request' as const };

    const connection = connections.get(name);
    if (!connection) {
      const error = new GatewayError('unknown_connection', `no connection named "${name}" (list them with: gatehouse connections list)`);
      await pipeline.recordRejected(name, 'http', clientAddr, error, request);
      throw error;
    }
    let auth: AuthContext;
    try {
      auth = await pipeline.authenticate(credentialOf(req), connection);
    } catch (err) {
      const error = toGatewayError(err);
      await pipeline.recordRejected(connection.name, 'http', clientAddr, error, request);
      throw error;
    }

    let admission: Admission;
    let session: Session;
    try {
      const raw = isBufferedBody(req.headers) ? await readBody(req, options.bodyLimit) : null;
      const draft = toRequestDraft(connection, method, rest, req.headers, raw);
      session = await pipeline.sharedSession(auth, connection, 'http', clientAddr);
      admission = await pipeline.admit(session, draft);
    } catch (err) {
      const error = toGatewayError(err);
      // Errors from admit() are recorded there; earlier ones (bad body) are recorded here.
      if (error.code === 'bad_request' || error.code === 'body_too_large') {
        await pipeline.recordRejected(connection.name, 'http', clientAddr, error, request, auth);
        res.setHeader('connection', 'close');
      }
      throw error;
    }
    await forward(req, res, connection, rest, admission, session);
  }

  async function forward(req: IncomingMessage, res: ServerResponse, connection: Connection, rest: string, admission: Admission, session: Session): Promise<void> {
    const abort = new AbortController();
    const onClientClose = () => {
      if (!res.writableFinished) abort.abort(new GatewayError('bad_request', 'client closed the connection'));
    };
    const onSessionEnd = () => {
      abort.abort(session.ended.reason);
      res.destroy();
    };
    res.on('close', onClientClose);
    session.ended.addEventListener('abort', onSessionEnd, { once: true });

    const body = admission.body;
    const payload: string | IncomingMessage | undefined =
      body.type === 'json' ? (body.text ?? JSON.stringify(body.value)) : body.type === 'text' ? body.text : body.type === 'opaque' ? req : undefined;
    const length = typeof payload === 'string' ? Buffer.byteLength(payload) : payload ? Number(req.headers['content-length'] ?? NaN) : null;

    let bytesOut = 0;
    let status: number | null = null;
    let recorded: string | null = null;
    try {
      const upstream: Dispatcher.ResponseData = await pools.pool(connection.upstream.origin).request({
        method: req.method as Dispatcher.HttpMethod,
        path: upstreamPath(connection, rest),
        headers: upstreamRequestHeaders(req.headers, connection, Number.isFinite(length) ? length : null, admission.masked),
        body: payload,
        signal: abort.signal,
      });
      status = upstream.statusCode;
      const contentType = String(upstream.headers['content-type'] ?? '');
      const sse = contentType.startsWith('text/event-stream');
      const encoded = upstream.headers['content-encoding'] !== undefined && upstream.headers['content-encoding'] !== 'identity';

      if (sse) {
        const masker = admission.responseStream('openai-sse');
        const capture = new Capture(STREAM_RECORD_BYTES);
        res.writeHead(status, clientResponseHeaders(upstream.headers, false));
        res.flushHeaders();
        for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
          const out = masker ? masker.push(chunk) : chunk;
          if (out.length === 0) continue;
          capture.add(out);
          bytesOut += typeof out === 'string' ? Buffer.byteLength(out) : out.length;
          if (!res.write(out)) await waitDrain(res);
        }
        const tail = masker?.end() ?? '';
        capture.add(tail);
        bytesOut += Buffer.byteLength(tail);
        res.end(tail);
        recorded = reassembleSseTranscript(capture.text());
      } else if (admission.masked) {
        if (encoded || !TEXTUAL.test(contentType)) {
          upstream.body.destroy();
          throw new MaskingError(`a masking profile applies but the response (${contentType || 'no content type'}${encoded ? ', compressed' : ''}) cannot be scanned; it was withheld`);
        }
        const raw = await readAll(upstream.body as AsyncIterable<Buffer>, options.bodyLimit);
        if (raw === null) {
          upstream.body.destroy();
          throw new MaskingError(`the response is larger than ${options.bodyLimit} bytes and cannot be scanned; it was withheld`);
        }
        const text = raw.toString('utf8');
        const masked = /json/i.test(contentType) ? admission.maskResponseJson(text) : admission.maskResponseText(text);
        const headers = clientResponseHeaders(upstream.headers, false);
        headers['content-length'] = Buffer.byteLength(masked);
        res.writeHead(status, headers);
        res.end(masked);
        bytesOut = Buffer.byteLength(masked);
        recorded = masked;
      } else {
        const capture = new Capture(options.recordBytes);
        res.writeHead(status, clientResponseHeaders(upstream.headers, true));
        for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
          if (!encoded && TEXTUAL.test(contentType)) capture.add(chunk);
          bytesOut += chunk.length;
          if (!res.write(chunk)) await waitDrain(res);
        }
        res.end();
        recorded = encoded || !TEXTUAL.test(contentType) ? `[${contentType || 'body'}, ${bytesOut} bytes${encoded ? ', compressed' : ''}]` : capture.text();
      }
      await admission.complete({ status: 'complete', responseStatus: status, responseBody: recorded, errorCode: null, bytesOut });
    } catch (err) {
      const clientGone = abort.signal.aborted && !session.ended.aborted;
      const error = clientGone ? null : session.ended.aborted ? toGatewayError(session.ended.reason) : upstreamFailure(err, connection, options.upstreamTimeoutMs);
      if (error && error.code.startsWith('upstream')) metrics.upstreamErrors.inc({ connection: connection.name, code: error.code });
      await admission.complete({
        status: 'complete',
        responseStatus: status ?? error?.status ?? null,
        responseBody: recorded,
        errorCode: error?.code ?? 'client_aborted',
        bytesOut,
      });
      if (error) throw error;
      res.destroy();
    } finally {
      res.off('close', onClientClose);
      session.ended.removeEventListener('abort', onSessionEnd);
    }
  }

  return (req, res) => {
    handle(req, res).catch((err) => {
      const error = toGatewayError(err);
      if (error.code === 'internal') logger.error({ err, url: req.url?.split('?')[0] }, 'proxy request failed');
      writeError(res, error);
    });
  };
}
