/**
 * Aggregate endpoints: `/mcp/<aggregate>` for a connection with `upstream: "aggregate:"`. The
 * agent's sessions here are AggregateSessions, keyed by their own Mcp-Session-Id and counted
 * against the aggregate's mcp.maxSessions; what they open on the connections they serve is counted
 * and capped there, as any session on those connections. Each is a recorded pipeline session of
 * its own on the aggregate: its initialize is decided and recorded under the aggregate's rules and
 * holds the session's slot (concurrent-session limits), and revocation ends it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { BadRequest, GatewayStopping, NotFound, toGatewayError } from '../../errors.ts';
import type { Pipeline, Session } from '../../pipeline.ts';
import type { ConnectionInfo } from '../../interaction.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import { lineOf, toRequestDraft, type McpRequest } from './to-interaction.ts';
import { writeRpcError } from './render.ts';
import type { McpOptions } from '../../config/mcp.ts';
import { AggregateSession, type AggregateSessionDeps, type MemberLogin } from './aggregate-session.ts';

/** Mcp-Session-Id values the gateway issues are UUIDs; anything else is refused before a lookup. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AggregatesOptions extends AggregateSessionDeps {
  readonly logger: Logger;
  readonly pipeline: Pipeline;
  /** Counts a session against a connection's cap until the returned release runs; throws limit_exceeded past it. */
  admit(connection: string, max: number): () => void;
  stopping(): boolean;
}

export interface AggregateRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly name: string;
  readonly mcp: McpOptions & { readonly aggregate: readonly string[] };
  readonly auth: AuthContext;
  /** The aggregate connection as the login found it. */
  readonly connection: ConnectionInfo;
  readonly body: unknown;
  readonly login: MemberLogin;
}

export interface Aggregates {
  route(request: AggregateRequest): Promise<void>;
  endStandingStreams(): void;
  close(reason: string): Promise<void>;
}

export function createAggregates(options: AggregatesOptions): Aggregates {
  const sessions = new Map<string, AggregateSession>();

  async function route({ req, res, name, mcp, auth, connection, body, login }: AggregateRequest): Promise<void> {
    const header = req.headers['mcp-session-id'];
    if (header !== undefined) {
      const id = Array.isArray(header) ? '' : header;
      const existing = SESSION_ID.test(id) ? sessions.get(id) : undefined;
      if (!existing || existing.name !== name || existing.auth.principal.id !== auth.principal.id) {
        throw new NotFound('no such MCP session (it ended, or belongs to someone else): initialize a new one');
      }
      await existing.handle(req, res, body, auth, login);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) throw new BadRequest('no Mcp-Session-Id: the first request of a session must be one initialize request');
    if (options.stopping()) throw new GatewayStopping('this gateway replica is stopping and opens no new MCP session; retry, and the load balancer sends you to another');
    const release = options.admit(name, mcp.maxSessions);
    let session: Session;
    try {
      session = await options.pipeline.openSession(auth, connection, 'mcp', login.clientAddr);
    } catch (err) {
      release();
      throw err;
    }
    const created = new AggregateSession(
      name,
      auth,
      session,
      mcp.aggregate,
      mcp,
      options,
      (id) => sessions.set(id, created),
      (closed) => {
        if (closed.id !== undefined && sessions.get(closed.id) === closed) sessions.delete(closed.id);
        release();
      },
    );
    const initialize = body as McpRequest;
    try {
      // The initialize is the aggregate session's one recorded request: decided by the aggregate's
      // rules, holding the session's slot (concurrent-session limits) from here until it ends.
      await options.pipeline.run(
        session,
        () => toRequestDraft(initialize, Buffer.byteLength(JSON.stringify(body)), 'client'),
        async () => {
          await created.start();
          await created.handle(req, res, body, auth, login);
          return { responseStatus: res.statusCode, responseBody: null, bytesOut: 0 };
        },
        { slot: 'session', line: lineOf(initialize) },
      );
    } catch (err) {
      // The runner recorded the refusal in this session: answered here, it is not recorded twice.
      const error = toGatewayError(err);
      await created.close(`the MCP session could not be opened: ${error.code}`);
      const id = (initialize as { id?: unknown }).id;
      writeRpcError(res, error, typeof id === 'string' || typeof id === 'number' ? id : null);
      return;
    }
    if (created.id === undefined) await created.close('the initialize request was refused');
  }

  return {
    route,
    endStandingStreams() {
      for (const session of sessions.values()) session.endStandingStream();
    },
    async close(reason) {
      await Promise.allSettled([...sessions.values()].map((s) => s.close(reason)));
    },
  };
}
