/**
 * One session on an aggregate endpoint (`/mcp/<aggregate>`): the agent talks to an SDK Server here,
 * and each connection the aggregate serves is reached through an ordinary McpSession of its own,
 * opened at first use with the agent's credential and driven in-process by an SDK Client. So every
 * call is decided, held, masked, pinned and recorded by that connection's session, under its own
 * policy, limits and revocation; this module only merges lists and routes calls.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  ListToolsRequestSchema,
  ListToolsResultSchema,
  McpError,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { BodyTooLarge, toGatewayError, type GatewayError } from '../../errors.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import type { Session } from '../../pipeline.ts';
import { DEFAULT_MCP_OPTIONS, type McpOptions } from '../../config/mcp.ts';
import { writeResponse, type McpSession } from './session.ts';
import { mergeTools, type ToolRoute } from './aggregate-names.ts';
import { rpcError } from './render.ts';

export interface AggregateSessionDeps {
  readonly logger: Logger;
  /**
   * Opens a session on one served connection with the agent's credential (login, scope, caps,
   * recording as for /mcp/<connection>); onClosed runs when that session ends, however it ends.
   */
  open(connection: string, login: MemberLogin, onClosed: () => void): Promise<McpSession>;
}

export interface MemberLogin {
  readonly secret: string | undefined;
  readonly clientAddr: string | null;
}

interface Member {
  readonly session: McpSession;
  readonly client: Client;
}

/**
 * The in-process client sets no deadline of its own: the served session bounds every wait (the tool
 * server by its callTimeout, a hold by its rule's wait), and the SDK's 60 s default would cut holds.
 */
const NO_CLIENT_TIMEOUT = 2 ** 31 - 1;
/** Pages read from one connection's list at most (each page bounded by that connection's session). */
const MAX_PAGES = 10;

export class AggregateSession {
  readonly agent: WebStandardStreamableHTTPServerTransport;
  private readonly server: Server;
  private readonly members = new Map<string, Promise<Member>>();
  private routes: ReadonlyMap<string, ToolRoute> = new Map();
  private login: MemberLogin = { secret: undefined, clientAddr: null };
  private idle: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;

  constructor(
    readonly name: string,
    public auth: AuthContext,
    /** The aggregate's own recorded session: revocation ends it, and it ends with this one. */
    private readonly session: Session,
    private readonly served: readonly string[],
    private readonly options: McpOptions,
    private readonly deps: AggregateSessionDeps,
    onInitialized: (id: string) => void,
    private readonly onClosed: (self: AggregateSession) => void,
  ) {
    this.server = new Server({ name: `gatehouse/${name}`, version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    this.server.setRequestHandler(ListToolsRequestSchema, async () => {
      await this.list();
      return { tools: this.lastTools };
    });
    this.server.setRequestHandler(CallToolRequestSchema, (request, extra) => this.call(request.params, extra.signal));
    this.agent = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: onInitialized,
      onsessionclosed: () => void this.close('the agent ended the MCP session'),
    });
    session.ended.addEventListener('abort', () => void this.close(String((session.ended.reason as Error)?.message ?? 'session ended')), { once: true });
  }

  private lastTools: Record<string, unknown>[] = [];

  get id(): string | undefined {
    return this.agent.sessionId;
  }

  async start(): Promise<void> {
    await this.server.connect(this.agent);
    this.touch();
  }

  /** One HTTP request of the agent's; its credential opens the connections it reaches first from here. */
  async handle(req: IncomingMessage, res: ServerResponse, body: unknown, auth: AuthContext, login: MemberLogin): Promise<void> {
    this.touch();
    this.auth = auth;
    this.login = login;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const request = new Request(`http://gateway${req.url ?? '/'}`, { method: req.method ?? 'GET', headers });
    const response = await this.agent.handleRequest(request, body === undefined ? undefined : { parsedBody: body });
    await writeResponse(response, res);
  }

  endStandingStream(): void {
    this.agent.closeStandaloneSSEStream();
  }

  close(reason: string): Promise<void> {
    this.closing ??= this.shutdown(reason);
    return this.closing;
  }

  private async shutdown(reason: string): Promise<void> {
    clearTimeout(this.idle);
    const members = await Promise.allSettled(this.members.values());
    this.members.clear();
    await Promise.allSettled(members.map(async (m) => {
      if (m.status !== 'fulfilled') return;
      await m.value.client.close().catch(() => undefined);
      await m.value.session.close(reason);
    }));
    await this.server.close().catch(() => undefined);
    await this.session.close(reason).catch((err: unknown) => this.deps.logger.error({ err }, 'could not close an aggregate MCP session'));
    this.onClosed(this);
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.close('idle'), this.options.idleTimeout);
    this.idle.unref();
  }

  /** The connections this token may reach; the others contribute nothing and are never logged in to. */
  private reachable(): string[] {
    const allowed = this.auth.credential.connections;
    return this.served.filter((name) => allowed === null || allowed.includes(name));
  }

  private member(connection: string): Promise<Member> {
    let member = this.members.get(connection);
    if (member === undefined) {
      member = this.openMember(connection);
      this.members.set(connection, member);
      // A failed open is tried again at the next use (the tool server may be back).
      member.catch(() => this.members.get(connection) === member && this.members.delete(connection));
    }
    return member;
  }

  private async openMember(connection: string): Promise<Member> {
    let self: Promise<Member> | undefined;
    const session = await this.deps.open(connection, this.login, () => {
      // Ended on its own (idle, the tool server left): the next use opens a new one.
      if (this.members.get(connection) === self) this.members.delete(connection);
    });
    self = this.members.get(connection);
    session.session.ended.addEventListener('abort', () => void this.close(`the session on "${connection}" ended: ${String((session.session.ended.reason as Error)?.message ?? '')}`), { once: true });
    const client = new Client({ name: `gatehouse/${this.name}`, version: '1.0.0' });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void this.server.sendToolListChanged().catch(() => undefined));
    const transport = new StreamableHTTPClientTransport(new URL(`http://gateway/mcp/${connection}`), {
      fetch: (url, init) => session.handleWeb(new Request(url, init)),
    });
    try {
      await client.connect(transport);
    } catch (err) {
      await session.close('the aggregate could not initialize it');
      throw err;
    }
    return { session, client };
  }

  /** Every reachable connection's list as its own session filtered it, merged under prefixed names. */
  private async list(): Promise<void> {
    const lists = await Promise.all(
      this.reachable().map(async (connection) => {
        try {
          const { client } = await this.member(connection);
          const tools: Record<string, unknown>[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < MAX_PAGES; page++) {
            const result = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema);
            tools.push(...(result.tools as Record<string, unknown>[]));
            cursor = result.nextCursor;
            if (cursor === undefined) break;
          }
          return { connection, tools };
        } catch (err) {
          // One connection that cannot list leaves the others usable; why is for the operator.
          this.deps.logger.warn({ aggregate: this.name, connection, error: (err as Error).message }, 'an aggregated MCP connection contributed no tools');
          return { connection, tools: [] };
        }
      }),
    );
    const merged = mergeTools(lists);
    if (merged.leftOut.length > 0) this.deps.logger.warn({ aggregate: this.name, leftOut: merged.leftOut.slice(0, 20) }, 'aggregated MCP tools left out of the list (name invalid, too long or shared)');
    this.routes = merged.routes;
    this.lastTools = merged.tools;
  }

  private async call(params: { name: string; arguments?: Record<string, unknown> | undefined; _meta?: Record<string, unknown> | undefined }, signal: AbortSignal): Promise<Record<string, unknown>> {
    // A call before any list (or of a name the last list did not hold) lists first: routes come only from lists.
    if (!this.routes.has(params.name)) await this.list();
    const route = this.routes.get(params.name);
    if (route === undefined || !this.reachable().includes(route.connection)) {
      throw rpcFailure(ErrorCode.InvalidParams, `no tool "${params.name}" on this aggregate: list the tools, names are <connection>__<tool>`);
    }
    let member: Member;
    try {
      member = await this.member(route.connection);
    } catch (err) {
      throw asRpcError(toGatewayError(err));
    }
    const forwarded = { name: route.tool, ...(params.arguments === undefined ? {} : { arguments: params.arguments }), ...(params._meta === undefined ? {} : { _meta: params._meta }) };
    // The aggregate's own bound let the message in; the served connection's may be tighter.
    const limit = (member.session.connection.mcp ?? DEFAULT_MCP_OPTIONS).maxMessageBytes;
    if (Buffer.byteLength(JSON.stringify(forwarded)) > limit) {
      throw asRpcError(new BodyTooLarge(`the call is larger than connection "${route.connection}" accepts (${limit} bytes, its mcp.maxMessageBytes)`));
    }
    try {
      return await member.client.request({ method: 'tools/call', params: forwarded }, CallToolResultSchema, { signal, timeout: NO_CLIENT_TIMEOUT });
    } catch (err) {
      if (err instanceof McpError) throw passOn(err);
      throw asRpcError(toGatewayError(err));
    }
  }
}

/** An error the SDK's Server renders as this JSON-RPC error, message unchanged (McpError would prefix it). */
function rpcFailure(code: number, message: string, data?: unknown): Error {
  return Object.assign(new Error(message), { code, ...(data === undefined ? {} : { data }) });
}

/** The served session's JSON-RPC error as it sent it (its message without the SDK's "MCP error n:" prefix). */
function passOn(err: McpError): Error {
  return rpcFailure(err.code, err.message.replace(/^MCP error -?\d+: /, ''), err.data);
}

function asRpcError(error: GatewayError): Error {
  const rendered = rpcError(undefined, error).error;
  return rpcFailure(rendered.code, rendered.message, rendered.data);
}
