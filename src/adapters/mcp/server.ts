/**
 * The MCP adapter: `/mcp/<connection>` on the proxy listener, Streamable HTTP with a Gatehouse
 * token. The first POST (initialize) opens a pipeline session and its tool server side; later
 * requests name it by Mcp-Session-Id and must come from the same person. Bodies are read here,
 * bounded by the connection's mcp.maxMessageBytes, and refused before any session is touched when
 * they are not one JSON-RPC message.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { BadRequest, BodyTooLarge, GatewayStopping, LimitExceeded, NotFound, toGatewayError, UnknownConnection } from '../../errors.ts';
import type { Pipeline } from '../../pipeline.ts';
import type { RequestLine } from '../../adapter-contract.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import type { ConnectionInfo } from '../../interaction.ts';
import type { RuntimeState } from '../../runtime-state.ts';
import type { Connection, ConnectionRegistry } from '../../connections/registry.ts';
import { DEFAULT_MCP_OPTIONS, type McpOptions } from '../../config/mcp.ts';
import { McpSession } from './session.ts';
import { writeRpcError } from './render.ts';
import type { ToolPins } from './pins.ts';
import { createAggregates } from './aggregate.ts';

export const MCP_PREFIX = '/mcp/';

export interface McpGatewayOptions {
  readonly pipeline: Pipeline;
  readonly connections: ConnectionRegistry;
  readonly state: () => RuntimeState;
  readonly logger: Logger;
  readonly trustProxy: boolean;
  /** Tool-definition pinning (pins.ts), for connections with mcp.pinTools. */
  readonly pins?: ToolPins;
}

export interface McpGateway {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** A drain began: no new session opens, and standing event streams end. */
  stopAccepting(): void;
  /** Closes every session (and stops every process). */
  close(reason: string): Promise<void>;
  /** Sessions open now, by connection. */
  sessionCount(connection: string): number;
}

const LINE: RequestLine = { kind: 'mcp.other', method: null, target: null };
/** Mcp-Session-Id values the gateway issues are UUIDs; anything else is refused before a lookup. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function credentialOf(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1]?.trim();
}

/** `/mcp/<name>` exactly (a query string is ignored); anything below it is not an MCP endpoint. */
function connectionName(url: string): string {
  const path = url.slice(MCP_PREFIX.length).split('?')[0] ?? '';
  if (path === '' || path.includes('/')) throw new NotFound('the MCP endpoint is /mcp/<connection>');
  try {
    return decodeURIComponent(path);
  } catch {
    throw new BadRequest('the connection name in the path is not valid percent-encoding');
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new BodyTooLarge(`the JSON-RPC message is larger than ${limit} bytes (mcp.maxMessageBytes)`);
  if (Number(req.headers['content-length'] ?? 0) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** One JSON-RPC message, parsed: a batch, a non-object or text that is not JSON is refused. */
function parseMessage(raw: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadRequest('the body is not JSON: send one JSON-RPC message');
  }
  if (Array.isArray(value)) throw new BadRequest('JSON-RPC batches are not accepted: send one message per request (MCP 2025-06-18 and later have no batches)');
  if (typeof value !== 'object' || value === null) throw new BadRequest('the body is not a JSON-RPC message');
  return value;
}

export function createMcpGateway(options: McpGatewayOptions): McpGateway {
  const { pipeline, connections, logger } = options;
  const sessions = new Map<string, McpSession>();
  const open = new Map<string, number>();
  let stopping = false;

  const clientAddrOf = (req: IncomingMessage): string | null => {
    if (options.trustProxy) {
      const forwarded = req.headers['x-forwarded-for'];
      const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
      if (first) return first;
    }
    return req.socket.remoteAddress ?? null;
  };

  const bump = (map: Map<string, number>, name: string, by: number) => {
    const next = (map.get(name) ?? 0) + by;
    if (next <= 0) map.delete(name);
    else map.set(name, next);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const clientAddr = clientAddrOf(req);
    let name: string;
    try {
      name = connectionName(req.url ?? '');
    } catch (err) {
      throw await pipeline.refuseLogin({ connection: '', protocol: 'mcp', clientAddr, line: LINE }, toGatewayError(err));
    }
    const login = { connection: name, protocol: 'mcp', clientAddr, line: LINE };
    const { auth, connection } = await pipeline.login({ ...login, secret: credentialOf(req), type: 'mcp' });
    try {
      await route(req, res, name, auth, connection, clientAddr);
    } catch (err) {
      // The caller is known: the refusal is theirs on record.
      throw await pipeline.refuseLogin(login, toGatewayError(err), auth);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse, name: string, auth: AuthContext, connection: ConnectionInfo, clientAddr: string | null): Promise<void> {
    const full = connections.get(name);
    if (!full) throw new UnknownConnection(`connection "${name}" was removed`);
    const mcp = full.mcp ?? DEFAULT_MCP_OPTIONS;
    const method = req.method ?? 'GET';
    const body = method === 'POST' ? parseMessage(await readBody(req, mcp.maxMessageBytes).catch(closeAfter(res))) : undefined;

    // A standing event stream opened during a drain would hold the drain open until its deadline.
    if (stopping && method === 'GET') throw new GatewayStopping('this gateway replica is stopping: no new event stream; retry, and the load balancer sends you to another');
    if (mcp.aggregate !== undefined) return aggregates.route({ req, res, name, mcp: { ...mcp, aggregate: mcp.aggregate }, auth, connection, body, login: { secret: credentialOf(req), clientAddr } });
    const header = req.headers['mcp-session-id'];
    if (header !== undefined) {
      const id = Array.isArray(header) ? '' : header;
      const existing = SESSION_ID.test(id) ? sessions.get(id) : undefined;
      // Another person's session is as unknown as one that never existed.
      if (!existing || existing.connection.name !== name || existing.session.auth.principal.id !== auth.principal.id) {
        throw new NotFound('no such MCP session (it ended, or belongs to someone else): initialize a new one');
      }
      await existing.handle(req, res, body);
      return;
    }
    if (method !== 'POST' || !isInitializeRequest(body)) {
      throw new BadRequest('no Mcp-Session-Id: the first request of a session must be one initialize request');
    }
    if (stopping) throw new GatewayStopping('this gateway replica is stopping and opens no new MCP session; retry, and the load balancer sends you to another');
    const created = await openSession(full, mcp, auth, connection, clientAddr, { register: true });
    try {
      await created.handle(req, res, body);
    } catch (err) {
      await created.close('the MCP session could not be opened');
      throw err;
    }
    // The transport refused the initialize (a bad Accept or Content-Type): nothing can reach this session.
    if (created.id === undefined) await created.close('the initialize request was refused');
  }

  function admit(name: string, max: number): () => void {
    if ((open.get(name) ?? 0) >= max) {
      throw new LimitExceeded('mcp.maxSessions', `connection "${name}" has its most MCP sessions open (mcp.maxSessions: ${max}); close one or retry later`);
    }
    // Counted from now until closed, so sessions opening at once cannot pass the cap together.
    bump(open, name, 1);
    let counted = true;
    return () => {
      if (counted) bump(open, name, -1);
      counted = false;
    };
  }

  /** A started session on one connection; registered under its Mcp-Session-Id only when the agent itself holds that id (not an aggregate's). */
  async function openSession(full: Connection, mcp: McpOptions, auth: AuthContext, connection: ConnectionInfo, clientAddr: string | null, how: { register: boolean; onClosed?: () => void }): Promise<McpSession> {
    const release = admit(full.name, mcp.maxSessions);
    let created: McpSession;
    try {
      const session = await pipeline.openSession(auth, connection, 'mcp', clientAddr);
      created = new McpSession(
        session,
        full,
        mcp,
        { pipeline, state: options.state, logger, ...(options.pins ? { pins: options.pins } : {}) },
        (id) => how.register && sessions.set(id, created),
        (closed) => {
          if (closed.id !== undefined && sessions.get(closed.id) === closed) sessions.delete(closed.id);
          release();
          how.onClosed?.();
        },
      );
    } catch (err) {
      release();
      throw err;
    }
    try {
      await created.start();
    } catch (err) {
      await created.close('the MCP session could not be opened');
      throw err;
    }
    return created;
  }

  const aggregates = createAggregates({
    logger,
    pipeline,
    admit,
    stopping: () => stopping,
    // A served connection is logged in to as if the agent came to /mcp/<it>: scope checked, refusals recorded.
    async open(name, login, onClosed) {
      if (stopping) throw new GatewayStopping('this gateway replica is stopping and opens no new MCP session; retry, and the load balancer sends you to another');
      const { auth, connection } = await pipeline.login({ connection: name, protocol: 'mcp', clientAddr: login.clientAddr, line: LINE, secret: login.secret, type: 'mcp' });
      const full = connections.get(name);
      if (!full || full.mcp?.aggregate !== undefined) throw new UnknownConnection(`connection "${name}" is not an MCP server an aggregate can serve`);
      return openSession(full, full.mcp ?? DEFAULT_MCP_OPTIONS, auth, connection, login.clientAddr, { register: false, onClosed });
    },
  });

  return {
    handle(req, res) {
      handle(req, res).catch((err) => {
        const error = toGatewayError(err);
        if (error.code === 'internal') logger.error({ err, url: req.url?.split('?')[0] }, 'MCP request failed');
        writeRpcError(res, error);
      });
    },
    stopAccepting() {
      stopping = true;
      for (const session of sessions.values()) session.endStandingStream();
      aggregates.endStandingStreams();
    },
    async close(reason) {
      stopping = true;
      await aggregates.close(reason);
      await Promise.allSettled([...sessions.values()].map((s) => s.close(reason)));
    },
    sessionCount: (connection) => open.get(connection) ?? 0,
  };
}

/** A body refused before it was read whole leaves bytes on the socket: the connection cannot be reused. */
function closeAfter(res: ServerResponse): (err: unknown) => never {
  return (err) => {
    res.setHeader('connection', 'close');
    throw err;
  };
}
