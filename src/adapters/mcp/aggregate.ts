/**
 * Aggregate endpoints: `/mcp/<aggregate>` for a connection with `upstream: "aggregate:"`. The
 * agent's sessions here are AggregateSessions, keyed by their own Mcp-Session-Id and counted
 * against the aggregate's mcp.maxSessions; what they open on the connections they serve is counted
 * and capped there, as any session on those connections.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { BadRequest, GatewayStopping, NotFound } from '../../errors.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import type { McpOptions } from '../../config/mcp.ts';
import { AggregateSession, type AggregateSessionDeps, type MemberLogin } from './aggregate-session.ts';

/** Mcp-Session-Id values the gateway issues are UUIDs; anything else is refused before a lookup. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AggregatesOptions extends AggregateSessionDeps {
  readonly logger: Logger;
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

  async function route({ req, res, name, mcp, auth, body, login }: AggregateRequest): Promise<void> {
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
    const created = new AggregateSession(
      name,
      auth,
      mcp.aggregate,
      mcp,
      options,
      (id) => sessions.set(id, created),
      (closed) => {
        if (closed.id !== undefined && sessions.get(closed.id) === closed) sessions.delete(closed.id);
        release();
      },
    );
    try {
      await created.start();
      await created.handle(req, res, body, auth, login);
    } catch (err) {
      await created.close('the MCP session could not be opened');
      throw err;
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
