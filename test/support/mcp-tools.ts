/**
 * The tool server the MCP tests put behind the gateway, built with the official SDK's McpServer:
 * the same tools whether it is reached over Streamable HTTP (mcp-server.ts) or started over stdio
 * (mcp-stdio-server.ts). Every call it receives is kept in `received`, so a test can show that a
 * masked argument never reached the tool.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** A secret the tools hand back, in text, structured content and an embedded resource. */
export const TOOL_SECRET = 'AKIAIOSFODNN7EXAMPLE';
export const TOOL_EMAIL = 'grace.hopper@example.com';

export interface ToolLog {
  readonly received: { tool: string; arguments: unknown }[];
}

export function buildToolServer(log: ToolLog = { received: [] }): McpServer {
  const server = new McpServer({ name: 'gatehouse-test-tools', version: '1.0.0' }, { capabilities: { logging: {} } });
  const note = (tool: string, args: unknown) => log.received.push({ tool, arguments: args });

  server.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } }, async (args) => {
    note('echo', args);
    return { content: [{ type: 'text', text: `echo: ${args.text}` }] };
  });
  server.registerTool(
    'lookup_customer',
    { description: 'A customer record', inputSchema: { id: z.string() }, outputSchema: { email: z.string(), key: z.string() } },
    async (args) => {
      note('lookup_customer', args);
      return {
        content: [
          { type: 'text', text: `customer ${args.id}: ${TOOL_EMAIL}, key ${TOOL_SECRET}` },
          { type: 'resource', resource: { uri: `customers://${args.id}`, mimeType: 'text/plain', text: `contact ${TOOL_EMAIL} key ${TOOL_SECRET}` } },
        ],
        structuredContent: { email: TOOL_EMAIL, key: TOOL_SECRET },
      };
    },
  );
  server.registerTool('delete_records', { description: 'Deletes rows', inputSchema: { table: z.string() } }, async (args) => {
    note('delete_records', args);
    return { content: [{ type: 'text', text: `deleted from ${args.table}` }] };
  });
  server.registerTool('deploy', { description: 'Deploys a service', inputSchema: { service: z.string() } }, async (args) => {
    note('deploy', args);
    return { content: [{ type: 'text', text: `deployed ${args.service}` }] };
  });
  server.registerTool('screenshot', { description: 'An image' }, async () => {
    note('screenshot', {});
    return { content: [{ type: 'image', data: Buffer.from(`png ${TOOL_SECRET}`).toString('base64'), mimeType: 'image/png' }] };
  });
  server.registerTool('ask_model', { description: 'Asks the client model (sampling)' }, async () => {
    note('ask_model', {});
    const answer = await server.server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'say hi' } }], maxTokens: 10 });
    return { content: [{ type: 'text', text: `model said: ${answer.content.type === 'text' ? answer.content.text : '?'}` }] };
  });
  server.registerTool('ask_user', { description: 'Asks the user a question (elicitation)' }, async () => {
    note('ask_user', {});
    const answer = await server.server.elicitInput({ message: 'Which environment?', requestedSchema: { type: 'object', properties: { env: { type: 'string' } } } });
    return { content: [{ type: 'text', text: `user said: ${answer.action}` }] };
  });
  server.registerTool('hang', { description: 'Never answers' }, async () => {
    note('hang', {});
    return new Promise(() => undefined);
  });
  server.registerTool('whoami', { description: 'What the tool server was given to run with' }, async (extra) => {
    note('whoami', {});
    const auth = extra.requestInfo?.headers?.authorization;
    return { content: [{ type: 'text', text: JSON.stringify({ authorization: auth ?? null, env: process.env.TOOL_API_KEY ?? null, pid: process.pid }) }] };
  });
  server.registerResource('settings', 'config://settings', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: `db password key ${TOOL_SECRET}` }],
  }));
  server.registerResource('secret-file', new ResourceTemplate('file:///{name}', { list: undefined }), { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'private file' }],
  }));
  server.registerPrompt('greet', { description: 'A greeting', argsSchema: { name: z.string() } }, (args) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Hello ${args.name}, write to ${TOOL_EMAIL}` } }],
  }));
  return server;
}
