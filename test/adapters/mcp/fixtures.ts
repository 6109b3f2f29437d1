/**
 * A gateway with MCP connections in front of the SDK-built test tool servers, and the SDK's own
 * Client connected through it: what every MCP adapter test starts from.
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../../support/gateway.ts';
import { MCP_UPSTREAM_TOKEN, startMcpToolServer, type McpToolServer } from '../../support/mcp-server.ts';

export const STDIO_SERVER = fileURLToPath(new URL('../../support/mcp-stdio-server.ts', import.meta.url));
export const STDIO_SECRET = 'tool-api-key-0123456789abcdef';

/** `tools` over Streamable HTTP, `local` over stdio (at most two processes), `tight` with small bounds. */
export function mcpConnections(upstream: string, extra = ''): string {
  return `
  - name: tools
    type: mcp
    upstream: ${upstream}
    credential: \${MCP_UPSTREAM_TOKEN}
  - name: local
    type: mcp
    upstream: "stdio:"
    mcp:
      command: ${process.execPath}
      args: [--import, tsx, ${STDIO_SERVER}]
      env:
        TOOL_API_KEY: \${TOOL_API_KEY}
      maxSessions: 2
${extra}`;
}

export interface McpFixture {
  readonly t: TestGateway;
  readonly upstream: McpToolServer;
  close(): Promise<void>;
}

/**
 * Pins connections' tools as an admin does (`gatehouse mcp pin`, POST …/mcp/pins): pinning is on by
 * default, so a connection shows no tool until its list is pinned.
 */
export async function pinTools(t: TestGateway, ...connections: string[]): Promise<void> {
  for (const connection of connections) {
    const { status, json } = await t.api('POST', `/connections/${connection}/mcp/pins`, {});
    if (status !== 200) throw new Error(`pinning ${connection}: ${status} ${JSON.stringify(json)}`);
  }
}

/** `pin` (default: tools and local) names the connections pinned by an admin before the test. */
export async function startMcpFixture(options: TestGatewayOptions & { extraMcp?: string; pin?: readonly string[] } = {}): Promise<McpFixture> {
  process.env.MCP_UPSTREAM_TOKEN = MCP_UPSTREAM_TOKEN;
  process.env.TOOL_API_KEY = STDIO_SECRET;
  const upstream = await startMcpToolServer();
  const t = await startTestGateway({ ...options, extraConnections: mcpConnections(upstream.url, options.extraMcp) + (options.extraConnections ?? '') });
  try {
    await pinTools(t, ...(options.pin ?? ['tools', 'local']));
  } catch (err) {
    await t.close();
    await upstream.close();
    throw err;
  }
  return {
    t,
    upstream,
    close: async () => {
      await t.close();
      await upstream.close();
    },
  };
}

/** The official SDK client, unchanged, pointed at /mcp/<connection> with a Gatehouse token. */
export async function connectClient(url: string, connection: string, token: string, client = new Client({ name: 'test-agent', version: '1.0.0' })): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp/${connection}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

/** Ends the session as a well-behaved agent does (DELETE), then closes the client. */
export async function disconnect(connected: { client: Client; transport: StreamableHTTPClientTransport }): Promise<void> {
  await connected.transport.terminateSession().catch(() => undefined);
  await connected.client.close();
}

/** The text of a tool result's first content part. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? `[${c.type}]`).join('\n');
}
