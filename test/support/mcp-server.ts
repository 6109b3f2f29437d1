/**
 * The test tool server over Streamable HTTP on a free loopback port: one McpServer per session, as
 * the SDK's examples run it, and a bearer credential it requires (the one only the gateway holds).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildToolServer, type ToolLog } from './mcp-tools.ts';

export const MCP_UPSTREAM_TOKEN = `mcp-upstream-${randomBytes(16).toString('hex')}`;

export interface McpToolServer extends ToolLog {
  readonly url: string;
  /** Every Authorization header the server saw. */
  readonly authorizations: string[];
  /** Sessions the server ended because a client sent DELETE. */
  readonly deleted: string[];
  close(): Promise<void>;
}

export async function startMcpToolServer(token: string = MCP_UPSTREAM_TOKEN): Promise<McpToolServer> {
  const log: ToolLog = { received: [] };
  const authorizations: string[] = [];
  const deleted: string[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      authorizations.push(req.headers.authorization ?? '');
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
        return;
      }
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? transports.get(id) : undefined;
      if (!transport) {
        if (id !== undefined) {
          res.writeHead(404).end();
          return;
        }
        const fresh = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => void transports.set(sid, fresh),
          onsessionclosed: (sid) => {
            deleted.push(sid);
            transports.delete(sid);
          },
        });
        await buildToolServer(log).connect(fresh);
        transport = fresh;
      }
      await transport.handleRequest(req, res);
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    received: log.received,
    authorizations,
    deleted,
    close: async () => {
      await Promise.allSettled([...transports.values()].map((t) => t.close()));
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
