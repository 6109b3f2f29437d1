/**
 * A local stand-in for OpenAI's API: what `npm start` points the demo connection at, and the
 * upstream of our tests and benchmarks. It speaks the real wire shapes (checked against the
 * openai SDK's types) and answers deterministically: the assistant echoes the last user message.
 * Model names starting `demo-` are test controls (errors, slowness, held and long streams).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { chatCompletion, chatCompletionStream } from './chat-completions.ts';
import { completion, completionStream } from './completions.ts';
import { embeddings } from './embeddings.ts';
import { FAILING_MODEL, HOLD_MODEL, RATE_LIMITED_MODEL, SLOW_MODEL, findModel, listModels } from './models.ts';
import {
  OpenAiApiError,
  incorrectApiKey,
  invalidJson,
  invalidMethod,
  invalidUrl,
  missingApiKey,
  modelNotFound,
  rateLimited,
  serverError,
} from './openai-error.ts';
import { newId } from './reply-meta.ts';
import { chatCompletionBody, completionBody, embeddingBody, parseBody, responseBody } from './request-schemas.ts';
import { response, responseStream } from './responses.ts';
import { writeStream, type StreamPlan } from './sse.ts';

export interface DemoModelOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get OpenAI's 401. */
  readonly apiKey?: string;
  /** Pause between streamed chunks; default 0. */
  readonly chunkDelayMs?: number;
  /** How long the `demo-slow` model waits before answering; default 2000. */
  readonly slowMs?: number;
  /** Keep requests in `requests`; default true. Benchmarks turn it off. */
  readonly recordRequests?: boolean;
  /** How many recent requests `requests` keeps; default 1000, which bounds memory behind `npm start`. */
  readonly recordLimit?: number;
  readonly logger?: Pick<Logger, 'debug' | 'warn'>;
}

export interface RecordedRequest {
  readonly method: string;
  /** As received, query string included. */
  readonly path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The parsed body, or undefined when it was empty or not JSON. */
  readonly bodyJson: unknown;
}

export interface DemoModel {
  /** Base URL without `/v1`, e.g. http://127.0.0.1:PORT. */
  readonly url: string;
  readonly port: number;
  /** The most recent requests (up to recordLimit), oldest first; none when recordRequests is false. */
  readonly requests: RecordedRequest[];
  /** Requests whose client went away before the reply was complete. */
  readonly aborted: number;
  /** Releases every `demo-hold` reply waiting now. */
  releaseHeld(): void;
  close(): Promise<void>;
}

const DEFAULT_RECORD_LIMIT = 1000;
const DEFAULT_SLOW_MS = 2000;
const RETRY_AFTER_SECONDS = 1;
/** Marks a body that failed to parse, as distinct from an empty one. */
const NOT_JSON = Symbol('not JSON');

interface Exchange {
  readonly res: ServerResponse;
  readonly json: unknown;
  readonly pathname: string;
  /** Aborts when the client goes away before the reply is complete. */
  readonly signal: AbortSignal;
}

type Handler = (exchange: Exchange) => Promise<void> | void;

export async function startDemoModel(options: DemoModelOptions = {}): Promise<DemoModel> {
  const {
    host = '127.0.0.1',
    port = 0,
    apiKey,
    chunkDelayMs = 0,
    slowMs = DEFAULT_SLOW_MS,
    recordRequests = true,
    recordLimit = DEFAULT_RECORD_LIMIT,
    logger,
  } = options;
  const requests: RecordedRequest[] = [];
  const held = new Set<() => void>();
  let aborted = 0;
  let closing = false;

  function waitForRelease(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const release = (): void => {
        held.delete(release);
        signal.removeEventListener('abort', release);
        resolve();
      };
      held.add(release);
      signal.addEventListener('abort', release, { once: true });
    });
  }

  /** The route for a generating endpoint: validate, apply the model's test control, answer. */
  function generate<B extends { model: string; stream?: unknown }>(
    schema: z.ZodType<B>,
    json: (body: B) => unknown,
    stream?: (body: B) => StreamPlan,
  ): Handler {
    return async ({ res, json: raw, signal }) => {
      if (raw === NOT_JSON) throw invalidJson();
      // An empty body is an empty request, so the 400 names the first missing parameter.
      const body = parseBody(schema, raw === undefined ? {} : raw);
      if (body.model === RATE_LIMITED_MODEL) throw rateLimited(body.model, RETRY_AFTER_SECONDS);
      if (body.model === FAILING_MODEL) throw serverError();
      if (body.model === SLOW_MODEL) await sleep(slowMs, undefined, { signal });
      const hold = body.model === HOLD_MODEL ? () => waitForRelease(signal) : undefined;
      if (stream && body.stream === true) {
        await writeStream(res, stream(body), { delayMs: chunkDelayMs, hold, signal });
        return;
      }
      if (hold) await hold();
      if (!signal.aborted) sendJson(res, 200, json(body));
    };
  }

  const routes = new Map<string, { method: string; handler: Handler }>([
    ['/v1/models', { method: 'GET', handler: ({ res }) => sendJson(res, 200, listModels()) }],
    ['/v1/chat/completions', { method: 'POST', handler: generate(chatCompletionBody, chatCompletion, chatCompletionStream) }],
    ['/v1/completions', { method: 'POST', handler: generate(completionBody, completion, completionStream) }],
    ['/v1/embeddings', { method: 'POST', handler: generate(embeddingBody, embeddings) }],
    ['/v1/responses', { method: 'POST', handler: generate(responseBody, response, responseStream) }],
  ]);

  function route(method: string, pathname: string): Handler {
    const exact = routes.get(pathname);
    if (exact) {
      if (exact.method !== method) throw invalidMethod(method, pathname);
      return exact.handler;
    }
    if (pathname.startsWith(MODEL_PREFIX) && pathname.length > MODEL_PREFIX.length) {
      if (method !== 'GET') throw invalidMethod(method, pathname);
      return retrieveModel;
    }
    throw invalidUrl(method, pathname);
  }

  function authenticate(header: string | undefined): void {
    if (apiKey === undefined) return;
    const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (presented === '') throw missingApiKey();
    if (presented !== apiKey) throw incorrectApiKey(presented);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => {
      if (res.writableFinished) return;
      abort.abort();
      if (!closing) aborted++;
    });
    res.setHeader('x-request-id', newId('req_'));
    res.setHeader('openai-version', '2020-10-01');

    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const body = await readBody(req);
    const json = body === '' ? undefined : parseJson(body);
    if (recordRequests) {
      if (requests.length >= recordLimit) requests.shift();
      requests.push({ method, path, headers: flatHeaders(req), body, bodyJson: json === NOT_JSON ? undefined : json });
    }
    logger?.debug({ method, path }, 'demo model request');

    try {
      authenticate(req.headers.authorization);
      const pathname = path.split('?', 1)[0] ?? '/';
      await route(method, pathname)({ res, json, pathname, signal: abort.signal });
    } catch (error) {
      if (abort.signal.aborted) return;
      if (!(error instanceof OpenAiApiError)) throw error;
      sendJson(res, error.status, error.toJson(), error.headers);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A client that left mid-request (even mid-body) needs no answer and is no fault of ours.
      if (res.destroyed) return;
      logger?.warn({ err: error }, 'demo model failed to answer');
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, serverError().toJson());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    requests,
    get aborted() {
      return aborted;
    },
    releaseHeld() {
      for (const release of [...held]) release();
    },
    close() {
      closing = true;
      // Held and slow replies settle through their abort signals once their sockets are gone.
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

const MODEL_PREFIX = '/v1/models/';

function retrieveModel({ res, pathname }: Exchange): void {
  const raw = pathname.slice(MODEL_PREFIX.length);
  let id = raw;
  try {
    id = decodeURIComponent(raw);
  } catch {
    // A malformed escape names no model; the 404 below says so.
  }
  const model = findModel(id);
  if (!model) throw modelNotFound(id);
  sendJson(res, 200, model);
}

/** `body` is sent as is when already serialised, else as JSON. */
function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
