/**
 * The test tool server over stdio, started by the gateway (`node --import tsx` this file). The
 * same tools as over HTTP; what it received is answered by its `whoami` tool and nothing else.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { buildToolServer } from './mcp-tools.ts';

await buildToolServer().connect(new StdioServerTransport());
// Stdin closed is the client gone (MCP's stdio shutdown): exit rather than wait for a signal.
process.stdin.on('end', () => process.exit(0));
