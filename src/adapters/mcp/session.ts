/**
 * One MCP session: the agent's side (the SDK's Streamable HTTP server transport, keyed by
 * Mcp-Session-Id), the tool server's side (the SDK's client transports), and between them every
 * request run through the pipeline as one interaction. Ids are the gateway's own on each side, so
 * neither peer can answer, cancel or confuse a request it did not receive.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCNotification,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { BadRequest, GatewayError, toGatewayError, UpstreamError } from '../../errors.ts';
import type { Admission, ForwardResult, Pipeline, Session } from '../../pipeline.ts';
import type { RuntimeState } from '../../runtime-state.ts';
import type { Connection } from '../../connections/registry.ts';
import type { McpOptions } from '../../config/mcp.ts';
import { credentialValues } from '../../connections/credential-echo.ts';
import { CLIENT_NOTIFICATIONS, lineOf, SERVER_NOTIFICATIONS, toRequestDraft } from './to-interaction.ts';
import { maskResult } from './mask-result.ts';
import { refusal, rpcError } from './render.ts';
import { openUpstream, type Upstream } from './upstream.ts';
import { allowedTools } from './tool-filter.ts';
import type { ToolPins } from './pins.ts';
import { SessionTools } from './pin-session.ts';
import { isCatalogList, SessionCatalog } from './catalog.ts';

type Id = string | number;
type Reply = { readonly result: Record<string, unknown> } | { readonly error: { code: number; message: string; data?: unknown } };

interface Pending {
  resolve(reply: Reply): void;
  fail(error: GatewayError): void;
}

export interface McpSessionDeps {
  readonly pipeline: Pipeline;
  readonly state: () => RuntimeState;
  readonly logger: Logger;
  /** Tool-definition pinning (pins.ts); without it tools are only scanned for flags. */
  readonly pins?: ToolPins;
}

const HOLD_UNTIL_WAIT = Object.freeze({ until: 'wait' as const });
/** Capabilities the gateway does not pass on (tasks run outside one request, beyond what it can check). */
const UNSUPPORTED_CAPABILITIES = ['tasks'];
/** Server-to-client requests waiting at once in one session; more are refused unrecorded, so a tool server cannot flood the record. */
const MAX_SERVER_REQUESTS = 4;

export class McpSession {
  readonly agent: WebStandardStreamableHTTPServerTransport;
  private upstream: Upstream | null = null;
  private nextId = 1;
  private readonly upstreamPending = new Map<number, Pending>();
  private readonly agentPending = new Map<number, Pending>();
  /** Agent requests under way: their id, the upstream id they went out as, and how to cancel them. */
  private readonly underWay = new Map<Id, { upstreamId: number | null; cancel: AbortController }>();
  private idle: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;
  private serverRequests = 0;
  private readonly echoes: readonly string[];
  private readonly tools: SessionTools;
  private readonly catalog: SessionCatalog;

  constructor(
    readonly session: Session,
    readonly connection: Connection,
    private readonly options: McpOptions,
    private readonly deps: McpSessionDeps,
    onInitialized: (id: string) => void,
    private readonly onClosed: (self: McpSession) => void,
  ) {
    this.echoes = credentialValues(connection.credential);
    this.tools = new SessionTools(
      deps.pins,
      () => ({ connection: connection.name, pinTools: options.pinTools, approvers: options.approvers, mask: deps.state().redact }),
      () => this.listUpstream('tools/list'),
    );
    this.catalog = new SessionCatalog(session, deps.state, (method) => this.listUpstream(method));
    this.agent = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: onInitialized,
      onsessionclosed: () => void this.close('the agent ended the MCP session'),
    });
    this.agent.onmessage = (message) => this.fromAgent(message);
    this.agent.onerror = (err) => deps.logger.debug({ connection: connection.name, error: err.message }, 'MCP agent transport error');
    session.ended.addEventListener('abort', () => void this.close(String((session.ended.reason as Error)?.message ?? 'session ended')), { once: true });
  }

  get id(): string | undefined {
    return this.agent.sessionId;
  }

  /** Starts the tool server's side (connects, or starts the process); rejects with upstream_unreachable. */
  async start(): Promise<void> {
    const upstream = openUpstream(this.connection, this.options, { onStreamFailed: (ids, reason) => this.streamFailed(ids, reason) }, this.deps.logger);
    this.upstream = upstream;
    upstream.transport.onmessage = (message) => this.fromUpstream(message);
    upstream.transport.onerror = (err) => this.deps.logger.debug({ connection: this.connection.name, error: err.message }, 'MCP upstream transport error');
    upstream.transport.onclose = () => void this.close('the tool server closed the session');
    try {
      await upstream.transport.start();
    } catch (err) {
      // The reason (a path, an address) is for the operator's log, not for the agent.
      this.deps.logger.warn({ connection: this.connection.name, error: (err as Error).message }, 'could not start an MCP connection');
      throw new UpstreamError('upstream_unreachable', `MCP connection "${this.connection.name}" could not be started or reached; an administrator finds why in the gateway log`, { cause: err });
    }
    this.touch();
  }

  /** One HTTP request of the agent's (POST, GET for the event stream, DELETE). */
  async handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    this.touch();
    // The body was read (bounded) and parsed already: the transport gets it parsed, and a request without one.
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const request = new Request(`http://gateway${req.url ?? '/'}`, { method: req.method ?? 'GET', headers });
    const response = await this.agent.handleRequest(request, body === undefined ? undefined : { parsedBody: body });
    await writeResponse(response, res);
  }

  /** One request from an in-process agent (an aggregate's own client, aggregate-session.ts): the same path as handle. */
  handleWeb(request: Request): Promise<Response> {
    this.touch();
    return this.agent.handleRequest(request);
  }

  /** A drain began: the agent's standing event stream ends so its HTTP request does not hold the drain. */
  endStandingStream(): void {
    this.agent.closeStandaloneSSEStream();
  }

  close(reason: string): Promise<void> {
    this.closing ??= this.shutdown(reason);
    return this.closing;
  }

  private async shutdown(reason: string): Promise<void> {
    clearTimeout(this.idle);
    const error = this.session.ended.aborted ? toGatewayError(this.session.ended.reason) : new BadRequest(`the MCP session ended: ${reason}`);
    for (const pending of [...this.upstreamPending.values(), ...this.agentPending.values()]) pending.fail(error);
    this.upstreamPending.clear();
    this.agentPending.clear();
    for (const { cancel } of this.underWay.values()) cancel.abort(error);
    await this.agent.close().catch(() => undefined);
    await this.upstream?.close().catch(() => undefined);
    await this.session.close(reason).catch((err: unknown) => this.deps.logger.error({ err }, 'could not close an MCP session'));
    this.onClosed(this);
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.close('idle'), this.options.idleTimeout);
    this.idle.unref();
  }

  // ——— the agent's messages ———

  private fromAgent(message: JSONRPCMessage): void {
    if (isJSONRPCRequest(message)) {
      if (message.method === 'ping') return void this.toAgent({ jsonrpc: '2.0', id: message.id, result: {} }, message.id);
      if (this.underWay.has(message.id)) return void this.toAgent(rpcError(message.id, new BadRequest('a request with this id is already under way in this session')), message.id);
      void this.runAgentRequest(message);
    } else if (isJSONRPCNotification(message)) {
      this.agentNotification(message);
    } else if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const pending = typeof message.id === 'number' ? this.agentPending.get(message.id) : undefined;
      if (!pending) return;
      this.agentPending.delete(message.id as number);
      pending.resolve('result' in message ? { result: message.result } : { error: message.error });
    }
  }

  private agentNotification(message: JSONRPCNotification): void {
    if (!CLIENT_NOTIFICATIONS.has(message.method)) return;
    if (message.method === 'notifications/cancelled') {
      const requestId = message.params?.requestId as Id | undefined;
      const run = requestId === undefined ? undefined : this.underWay.get(requestId);
      if (!run) return;
      run.cancel.abort(new BadRequest('the agent cancelled the request'));
      if (run.upstreamId !== null) void this.sendUpstream({ jsonrpc: '2.0', method: message.method, params: { ...message.params, requestId: run.upstreamId } });
      return;
    }
    void this.sendUpstream(message);
  }

  private async runAgentRequest(message: JSONRPCRequest): Promise<void> {
    const cancel = new AbortController();
    const run = { upstreamId: null as number | null, cancel };
    this.underWay.set(message.id, run);
    let answer: JSONRPCMessage | null = null;
    try {
      const bytesIn = Buffer.byteLength(JSON.stringify(message));
      await this.deps.pipeline.run(
        this.session,
        async () => this.catalog.withFlags(await this.tools.withFlags(toRequestDraft(message, bytesIn, 'client'))),
        async (admission) => {
          const reply = await this.askUpstream(message, admission, (id) => (run.upstreamId = id));
          answer = reply.message;
          return reply.outcome;
        },
        { slot: 'session', hold: HOLD_UNTIL_WAIT, line: lineOf(message), signal: cancel.signal },
      );
    } catch (err) {
      answer = refusal(message.id, message.method, toGatewayError(err));
    } finally {
      this.underWay.delete(message.id);
    }
    // A cancelled request gets no answer (MCP's cancellation rule).
    if (answer !== null && !cancel.signal.aborted) await this.toAgent(answer, message.id);
  }

  /** Forwards an admitted request and masks what comes back; the answer for the agent and the record's outcome. */
  private async askUpstream(message: JSONRPCRequest, admission: Admission, sentAs: (id: number) => void): Promise<{ message: JSONRPCMessage; outcome: ForwardResult }> {
    if (message.method === 'tools/call') await this.tools.checkCall(String(message.params?.name));
    const masked = admission.body.type === 'json' ? (admission.body.value as Record<string, unknown>) : {};
    const meta = message.params?._meta;
    const params = message.method === 'tools/call' ? { ...message.params, arguments: masked } : { ...masked, ...(meta === undefined ? {} : { _meta: meta }) };
    const reply = await this.request(message.method, params, admission.signal, sentAs);
    if ('error' in reply) {
      // The server's own error reaches the agent as it sent it, its text masked like a result.
      const text = admission.maskText(String(reply.error.message ?? ''));
      const error = { code: typeof reply.error.code === 'number' ? reply.error.code : -32603, message: maskResult(admission, text, this.echoes).value as string };
      return {
        message: { jsonrpc: '2.0', id: message.id, error },
        outcome: { responseStatus: 200, responseBody: JSON.stringify(error), bytesOut: Buffer.byteLength(JSON.stringify(error)), upstreamError: { code: String(error.code), message: error.message } },
      };
    }
    let result = reply.result;
    if (message.method === 'initialize') result = this.initialized(result);
    if (message.method === 'tools/list') {
      const reviewed = await this.tools.review(result, message.params?.cursor);
      result = { ...result, tools: allowedTools(this.deps.state(), this.session, reviewed.tools, reviewed.flagsOf) };
    }
    if (isCatalogList(message.method)) result = this.catalog.review(message.method, result, message.params?.cursor);
    const out = maskResult(admission, result, this.echoes);
    return { message: { jsonrpc: '2.0', id: message.id, result: out.value as Record<string, unknown> }, outcome: { responseStatus: 200, responseBody: out.transcript, bytesOut: out.bytes } };
  }

  /** A list of the tool server's, asked by the gateway itself (tools after notifications/tools/list_changed; any before a first use). */
  private async listUpstream(method: 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list'): Promise<Record<string, unknown>> {
    const reply = await this.request(method, {}, this.session.ended, () => undefined);
    if ('error' in reply) throw new UpstreamError('upstream_unreachable', `the MCP server refused ${method}`);
    return reply.result;
  }

  private initialized(result: Record<string, unknown>): Record<string, unknown> {
    if (typeof result.protocolVersion === 'string') this.upstream?.setProtocolVersion(result.protocolVersion);
    const capabilities = typeof result.capabilities === 'object' && result.capabilities !== null ? { ...(result.capabilities as Record<string, unknown>) } : {};
    for (const name of UNSUPPORTED_CAPABILITIES) delete capabilities[name];
    return { ...result, capabilities };
  }

  /** Sends one request to the tool server under the gateway's own id and waits, at most callTimeout, for its answer. */
  private request(method: string, params: Record<string, unknown>, signal: AbortSignal, sentAs: (id: number) => void): Promise<Reply> {
    const id = this.nextId++;
    sentAs(id);
    const reply = this.awaitReply(this.upstreamPending, id, signal, `the MCP server did not answer ${method}`);
    // Already aborted, it was never registered: nothing is sent.
    if (this.upstreamPending.has(id)) this.sendUpstream({ jsonrpc: '2.0', id, method, params }).catch((err: unknown) => this.upstreamPending.get(id)?.fail(sendFailure(err)));
    return reply;
  }

  /**
   * The reply to request `id` of either direction, registered in `pending` until it comes, the
   * signal aborts, or callTimeout passes (`what` names who did not answer).
   */
  private awaitReply(pending: Map<number, Pending>, id: number, signal: AbortSignal, what: string): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        pending.delete(id);
      };
      const timer = setTimeout(() => {
        done();
        reject(new UpstreamError('upstream_timeout', `${what} within ${this.options.callTimeout} ms (mcp.callTimeout)`));
      }, this.options.callTimeout);
      const onAbort = () => {
        done();
        reject(toGatewayError(signal.reason));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.set(id, { resolve: (r) => (done(), resolve(r)), fail: (e) => (done(), reject(e)) });
    });
  }

  private streamFailed(ids: readonly Id[], reason: string): void {
    for (const id of ids) {
      const pending = typeof id === 'number' ? this.upstreamPending.get(id) : undefined;
      pending?.fail(new UpstreamError('upstream_unreachable', `${reason}; the request got no answer`));
    }
  }

  private async sendUpstream(message: JSONRPCMessage): Promise<void> {
    if (!this.upstream || this.closing) throw new BadRequest('the MCP session is closed');
    await this.upstream.transport.send(message);
  }

  // ——— the tool server's messages ———

  private fromUpstream(message: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const pending = typeof message.id === 'number' ? this.upstreamPending.get(message.id) : undefined;
      if (!pending) return;
      if ('result' in message) pending.resolve({ result: message.result });
      else pending.resolve({ error: message.error });
    } else if (isJSONRPCRequest(message)) {
      if (message.method === 'ping') return void this.sendUpstream({ jsonrpc: '2.0', id: message.id, result: {} }).catch(() => undefined);
      if (this.serverRequests >= MAX_SERVER_REQUESTS) {
        return void this.sendUpstream(rpcError(message.id, new BadRequest(`at most ${MAX_SERVER_REQUESTS} requests to the agent may wait at once`))).catch(() => undefined);
      }
      this.serverRequests++;
      void this.runServerRequest(message).finally(() => this.serverRequests--);
    } else if (isJSONRPCNotification(message)) {
      this.upstreamNotification(message);
    }
  }

  /** A notification for the agent: secrets masked whatever the policy (no rule decides a notification). */
  private upstreamNotification(message: JSONRPCNotification): void {
    if (!SERVER_NOTIFICATIONS.has(message.method)) return;
    let params: Record<string, unknown> | undefined = message.params;
    if (message.method === 'notifications/cancelled') return; // the gateway's own wait for the agent ends by its timeout
    if (message.method === 'notifications/tools/list_changed') this.tools.listChanged();
    const secrets = this.deps.state().masking.get('secrets');
    if (params !== undefined && secrets) {
      try {
        params = secrets.maskJson(params).value as Record<string, unknown>;
      } catch {
        return;
      }
    }
    void this.toAgent({ jsonrpc: '2.0', method: message.method, ...(params === undefined ? {} : { params }) }, this.latestUnderWay());
  }

  /** Sampling, elicitation and roots from the tool server: decided by policy like any request (denied unless a rule allows). */
  private async runServerRequest(message: JSONRPCRequest): Promise<void> {
    let answer: JSONRPCMessage;
    try {
      let reply: JSONRPCMessage | null = null;
      const bytesIn = Buffer.byteLength(JSON.stringify(message));
      await this.deps.pipeline.run(
        this.session,
        () => toRequestDraft(message, bytesIn, 'server'),
        async (admission) => {
          const params = admission.body.type === 'json' ? (admission.body.value as Record<string, unknown>) : {};
          const got = await this.askAgent(message.method, params, admission.signal);
          if ('error' in got) {
            reply = { jsonrpc: '2.0', id: message.id, error: got.error };
            return { responseStatus: 200, responseBody: null, bytesOut: 0, upstreamError: { code: String(got.error.code), message: admission.maskText(String(got.error.message)) } };
          }
          const out = maskResult(admission, got.result, []);
          reply = { jsonrpc: '2.0', id: message.id, result: out.value as Record<string, unknown> };
          return { responseStatus: 200, responseBody: out.transcript, bytesOut: out.bytes };
        },
        { slot: 'session', line: lineOf(message) },
      );
      answer = reply ?? rpcError(message.id, new BadRequest('no answer'));
    } catch (err) {
      answer = rpcError(message.id, toGatewayError(err));
    }
    await this.sendUpstream(answer).catch(() => undefined);
  }

  private askAgent(method: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Reply> {
    const id = this.nextId++;
    const reply = this.awaitReply(this.agentPending, id, signal, `the agent did not answer ${method}`);
    if (this.agentPending.has(id)) void this.toAgent({ jsonrpc: '2.0', id, method, params }, this.latestUnderWay());
    return reply;
  }

  /** A message to the agent on the stream of the request it relates to, else on its standing stream. */
  private async toAgent(message: JSONRPCMessage, relatedTo: Id | undefined): Promise<void> {
    try {
      await this.agent.send(message, relatedTo === undefined ? undefined : { relatedRequestId: relatedTo });
    } catch (err) {
      // The agent's stream for that request is gone (it left); a message with nowhere to go is dropped.
      this.deps.logger.debug({ connection: this.connection.name, error: (err as Error).message }, 'could not deliver an MCP message to the agent');
    }
  }

  private latestUnderWay(): Id | undefined {
    let last: Id | undefined;
    for (const id of this.underWay.keys()) last = id;
    return last;
  }
}

function sendFailure(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  // The server's own words may echo what it was sent: only the HTTP status is passed on.
  const status = typeof (err as { code?: unknown })?.code === 'number' ? (err as { code: number }).code : null;
  const what = status !== null && status > 0 ? `answered HTTP ${status}` : 'could not be reached or answered with something that is not MCP';
  return new UpstreamError('upstream_unreachable', `the MCP server ${what}; the request was not answered`, { cause: err });
}

/** A web Response onto a Node response, streamed (an event stream stays open until either side ends it). */
export async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  res.flushHeaders();
  const reader = response.body.getReader();
  // The agent left: the stream is cancelled, which releases the transport's hold on it.
  const gone = () => void reader.cancel().catch(() => undefined);
  res.once('close', gone);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((resolve) => {
        const go = () => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.once('drain', go);
        res.once('close', go);
      });
    }
  } catch {
    // Cancelled (the agent left, or the session closed): nothing more to write.
  } finally {
    res.off('close', gone);
    res.end();
  }
}
