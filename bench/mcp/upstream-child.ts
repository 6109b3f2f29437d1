/**
 * The tool server in a process of its own (the SDK's McpServer over Streamable HTTP), so that a
 * direct call crosses processes as a call through the gateway does. Reports its URL on IPC.
 */
import { startMcpToolServer } from '../../test/support/mcp-server.ts';

const server = await startMcpToolServer(process.env.MCP_UPSTREAM_TOKEN);
process.send!({ type: 'ready', url: server.url });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stop') void server.close().then(() => process.exit(0));
});
