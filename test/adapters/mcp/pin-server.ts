/**
 * A tool server for the pinning tests, built on the official SDK's low-level Server so its tool list
 * can be anything (two tools of one name, a $ref cycle, thousands of tools) and can change under a
 * live session: `setTools` replaces the list and, like a real server, tells every open session
 * with notifications/tools/list_changed.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

export type RawTool = Record<string, unknown>;

export interface PinToolServer {
  readonly url: string;
  /** Every tools/call the server ran. */
  readonly calls: string[];
  /** How many tools/list requests it answered. */
  lists(): number;
  setTools(tools: RawTool[], notify?: boolean): Promise<void>;
  close(): Promise<void>;
}

export const tool = (name: string, description: string, properties: Record<string, unknown> = { text: { type: 'string' } }): RawTool => ({
  name,
  description,
  inputSchema: { type: 'object', properties },
});

/** Prompts, resources and resource templates the server lists as given (descriptions and all); `used` records each get and read. */
export interface Catalog {
  readonly prompts?: RawTool[];
  readonly resources?: RawTool[];
  readonly templates?: RawTool[];
}

export async function startPinToolServer(initial: RawTool[], catalog: Catalog = {}): Promise<PinToolServer> {
  let tools = initial;
  let listed = 0;
  const calls: string[] = [];
  const servers = new Set<Server>();
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const id = req.headers['mcp-session-id'];
      let transport = typeof id === 'string' ? transports.get(id) : undefined;
      if (!transport) {
        if (id !== undefined) return void res.writeHead(404).end();
        const server = new Server({ name: 'pin-test-tools', version: '1.0.0' }, { capabilities: { tools: { listChanged: true }, prompts: {}, resources: {} } });
        server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: catalog.prompts ?? [] }) as never);
        server.setRequestHandler(GetPromptRequestSchema, (request) => {
          calls.push(`prompt:${request.params.name}`);
          return { messages: [{ role: 'user', content: { type: 'text', text: `prompt ${request.params.name}` } }] };
        });
        server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: catalog.resources ?? [] }) as never);
        server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: catalog.templates ?? [] }) as never);
        server.setRequestHandler(ReadResourceRequestSchema, (request) => {
          calls.push(`read:${request.params.uri}`);
          return { contents: [{ uri: request.params.uri, text: `contents of ${request.params.uri}` }] };
        });
        server.setRequestHandler(ListToolsRequestSchema, () => {
          listed++;
          return { tools } as never;
        });
        server.setRequestHandler(CallToolRequestSchema, (request) => {
          calls.push(request.params.name);
          return { content: [{ type: 'text', text: `ran ${request.params.name}` }] };
        });
        const fresh = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => void transports.set(sid, fresh),
          onsessionclosed: (sid) => void transports.delete(sid),
        });
        fresh.onclose = () => servers.delete(server);
        await server.connect(fresh);
        servers.add(server);
        transport = fresh;
      }
      await transport.handleRequest(req, res);
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    calls,
    lists: () => listed,
    async setTools(next, notify = true) {
      tools = next;
      if (notify) await Promise.allSettled([...servers].map((s) => s.sendToolListChanged()));
    },
    async close() {
      await Promise.allSettled([...transports.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
