/**
 * The `mcp:` block of an MCP connection: how the gateway reaches the tool server (Streamable HTTP
 * at `upstream`, or a local process it starts per session when `upstream` is `stdio:`) and the
 * bounds it keeps on every session.
 */
import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';
import { parseByteSize } from './byte-size.ts';

const byteSize = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  try {
    return typeof value === 'number' ? value : parseByteSize(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** An environment variable name a process can be given. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A connection an aggregate serves: its name prefixes tool names, so it holds no "." and not the separator "__". */
const AGGREGATE_MEMBER = /^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$/;

export const MCP_DEFAULTS = Object.freeze({
  maxSessions: 16,
  maxMessageBytes: 1024 * 1024,
  callTimeout: 60_000,
  idleTimeout: 30 * 60_000,
});

export const mcpOptionsSchema = z
  .object({
    /** stdio servers: the program the gateway starts for each MCP session (no shell). */
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    /** The process's environment besides a minimal safe one (PATH, HOME …); values are secrets: use ${ENV} references. */
    env: z
      .record(z.string(), z.string())
      .superRefine((env, ctx) => {
        for (const name of Object.keys(env)) {
          if (!ENV_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not an environment variable name: letters, digits and "_", not starting with a digit` });
        }
      })
      .default({}),
    /** Most MCP sessions (for stdio: processes) open at once on this connection, on this replica. */
    maxSessions: z.number().int().positive().max(10_000).default(MCP_DEFAULTS.maxSessions),
    /** Largest JSON-RPC message accepted from the agent or the tool server. */
    maxMessageBytes: byteSize.default(MCP_DEFAULTS.maxMessageBytes),
    /** How long the gateway waits for the tool server's answer to one request. */
    callTimeout: durationSchema.default(MCP_DEFAULTS.callTimeout),
    /** A session without any request for this long is closed (and its process stopped). */
    idleTimeout: durationSchema.default(MCP_DEFAULTS.idleTimeout),
    /**
     * Tool definitions are pinned: a tool the approvers (or an admin, `gatehouse mcp pin`) have not
     * approved as it is now is neither listed nor callable (adapters/mcp/pins.ts). `false` trusts
     * whatever the tool server lists at every moment, rug pulls included: an explicit, unsafe opt-out.
     */
    pinTools: z.boolean().default(true),
    /** The groups that approve the connection's tool definitions (first pins and every change). */
    approvers: z.array(z.string().min(1).max(200)).min(1).max(20).default(['security']),
    /** An aggregate (`upstream: "aggregate:"`): the MCP connections whose tools it serves as `<connection>__<tool>` (adapters/mcp/aggregate*.ts). */
    aggregate: z
      .array(z.string().regex(AGGREGATE_MEMBER, 'an MCP connection whose name can prefix a tool name: lower-case letters, digits, "_" or "-", no "__" (the separator)'))
      .min(1)
      .max(32)
      .refine((names) => new Set(names).size === names.length, 'a connection is named twice')
      .optional(),
  })
  .strict();

export type McpOptions = z.output<typeof mcpOptionsSchema>;

/** The options of an MCP connection that left the block out. */
export const DEFAULT_MCP_OPTIONS: McpOptions = Object.freeze({ args: [], env: {}, ...MCP_DEFAULTS, pinTools: true, approvers: ['security'] });

/**
 * An MCP connection is reached over http(s) (Streamable HTTP) or started as a process (`upstream:
 * stdio:` with `mcp.command`); only MCP connections take an `mcp` block.
 */
export function checkMcpShape(
  c: { name?: string; type: string; upstream: string; mcp?: McpOptions | undefined; credential?: { type: string } | undefined },
  ctx: z.RefinementCtx,
): void {
  if (c.type !== 'mcp') {
    if (c.mcp !== undefined) ctx.addIssue({ code: 'custom', path: ['mcp'], message: 'only a connection of type mcp takes an mcp block' });
    return;
  }
  const protocol = URL.canParse(c.upstream) ? new URL(c.upstream).protocol : '';
  if (protocol === 'aggregate:') return checkAggregateShape(c, ctx);
  if (c.mcp?.aggregate !== undefined) ctx.addIssue({ code: 'custom', path: ['mcp', 'aggregate'], message: 'mcp.aggregate is for an aggregate connection (upstream: "aggregate:")' });
  if (protocol === 'stdio:') {
    if (c.mcp?.command === undefined) ctx.addIssue({ code: 'custom', path: ['mcp', 'command'], message: 'a stdio MCP server needs mcp.command, the program the gateway starts' });
    if (c.credential !== undefined) ctx.addIssue({ code: 'custom', path: ['credential'], message: 'a stdio MCP server takes its secrets in mcp.env, not a credential' });
  } else if (protocol === 'http:' || protocol === 'https:') {
    if (c.mcp?.command !== undefined) ctx.addIssue({ code: 'custom', path: ['mcp', 'command'], message: 'mcp.command is for stdio servers (upstream: "stdio:"); this one is reached over HTTP' });
    if (c.mcp !== undefined && Object.keys(c.mcp.env).length > 0) ctx.addIssue({ code: 'custom', path: ['mcp', 'env'], message: 'mcp.env is for stdio servers; an HTTP server takes a credential' });
  } else {
    ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'expected the MCP endpoint\'s http:// or https:// URL, or "stdio:" for a server the gateway starts, or "aggregate:" for one endpoint over several MCP connections' });
  }
}

/** An aggregate reaches no server of its own: only its members' credentials, processes and pins count (its own pinTools is not read). */
function checkAggregateShape(c: { name?: string; mcp?: McpOptions | undefined; credential?: { type: string } | undefined }, ctx: z.RefinementCtx): void {
  const mcp = c.mcp;
  if (mcp?.aggregate === undefined) return void ctx.addIssue({ code: 'custom', path: ['mcp', 'aggregate'], message: 'an aggregate connection needs mcp.aggregate, the MCP connections it serves' });
  if (c.credential !== undefined) ctx.addIssue({ code: 'custom', path: ['credential'], message: 'an aggregate holds no credential: each connection it serves uses its own' });
  if (mcp.command !== undefined || Object.keys(mcp.env).length > 0) ctx.addIssue({ code: 'custom', path: ['mcp', 'command'], message: 'an aggregate starts no process: mcp.command and mcp.env belong on the connections it serves' });
  if (c.name !== undefined && mcp.aggregate.includes(c.name)) ctx.addIssue({ code: 'custom', path: ['mcp', 'aggregate'], message: 'an aggregate cannot serve itself' });
}
