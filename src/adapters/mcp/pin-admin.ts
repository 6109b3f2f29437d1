/**
 * Pins an MCP connection's tools as an admin (`gatehouse mcp pin`, POST /api/v1/connections/<name>/mcp/pins):
 * the gateway reads the tool server's whole list itself, through the same client transport its
 * sessions use (the credential only it holds, or a process started for the purpose and stopped
 * after), and pins exactly that. No agent's session takes part, so no agent chooses what is pinned.
 */
import type { Logger } from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { BadRequest, NotFound, UpstreamError, toGatewayError } from '../../errors.ts';
import type { Connection, ConnectionRegistry } from '../../connections/registry.ts';
import { DEFAULT_MCP_OPTIONS } from '../../config/mcp.ts';
import { openUpstream } from './upstream.ts';
import type { PinnedList, PinStore, ToolPins } from './pins.ts';
import { toolFlags } from './tool-flags.ts';

/** Pages of a list read at most; a longer list is refused rather than pinned in part. */
const MAX_PAGES = 50;

export interface PinView {
  readonly tool: string;
  readonly hash: string;
  readonly pinnedAt: number;
  /** The admin who pinned it directly, or null. */
  readonly pinnedBy: string | null;
  /** The approval that pinned it, or null. */
  readonly approvalId: string | null;
  /** Who approved that approval. */
  readonly approvedBy: string[];
  readonly flags: string[];
}

export interface McpPinAdmin {
  /** Reads the connection's tools from its server now and pins them; `by` names the admin for the record. */
  pin(connection: string, by: string): Promise<PinnedList & { readonly connection: string }>;
  /** The connection's pins, by tool name. */
  list(connection: string): Promise<PinView[]>;
}

export interface McpPinAdminDeps {
  readonly connections: ConnectionRegistry;
  readonly pins: ToolPins;
  readonly store: Pick<PinStore, 'listToolPins'> & { listApprovalVotes(approvalId: string): Promise<{ approverName: string; vote: 'approve' | 'deny' }[]> };
  readonly logger: Logger;
}

function mcpConnection(connections: ConnectionRegistry, name: string): Connection {
  const connection = connections.get(name);
  if (!connection || connection.type !== 'mcp') throw new NotFound(`no MCP connection named "${name}" (list them with: gatehouse connections list)`);
  if (connection.mcp?.aggregate !== undefined) throw new BadRequest(`"${name}" is an aggregate: pins are kept per connection it serves; pin each of ${connection.mcp.aggregate.join(', ')}`);
  return connection;
}

/** The server's whole tool list, read once through a client of the gateway's own. */
async function readList(connection: Connection, logger: Logger): Promise<unknown[]> {
  const options = connection.mcp ?? DEFAULT_MCP_OPTIONS;
  const upstream = openUpstream(connection, options, { onStreamFailed: () => undefined }, logger);
  const client = new Client({ name: 'gatehouse-pin', version: '1.0.0' });
  const bound = { timeout: options.callTimeout };
  try {
    try {
      await client.connect(upstream.transport, bound);
    } catch (err) {
      logger.warn({ connection: connection.name, error: (err as Error).message }, 'could not reach an MCP server to pin its tools');
      throw new UpstreamError('upstream_unreachable', `MCP connection "${connection.name}" could not be started or reached; an administrator finds why in the gateway log`, { cause: err });
    }
    const tools: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      if (page >= MAX_PAGES) throw new UpstreamError('upstream_unreachable', `the tool server's list runs past ${MAX_PAGES} pages; nothing was pinned`);
      // Read loosely: an entry the SDK's schema would refuse is the pins' to skip, not a reason to pin nothing.
      const result = (await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ResultSchema, bound)) as { tools?: unknown; nextCursor?: unknown };
      if (!Array.isArray(result.tools)) throw new UpstreamError('upstream_unreachable', `MCP connection "${connection.name}" answered tools/list without a tool list; nothing was pinned`);
      tools.push(...(result.tools as unknown[]));
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (cursor === undefined) return tools;
    }
  } catch (err) {
    const error = toGatewayError(err);
    // The SDK's own failures (a timeout, a malformed answer) carry the server's words: only the kind is told.
    if (error.code === 'internal') throw new UpstreamError('upstream_unreachable', `MCP connection "${connection.name}" did not answer tools/list as MCP asks; nothing was pinned`, { cause: err });
    throw error;
  } finally {
    await client.close().catch(() => undefined);
    await upstream.close().catch(() => undefined);
  }
}

export function createMcpPinAdmin(deps: McpPinAdminDeps): McpPinAdmin {
  return {
    async pin(name, by) {
      const connection = mcpConnection(deps.connections, name);
      const tools = await readList(connection, deps.logger);
      return { connection: name, ...(await deps.pins.pinList(name, tools, by)) };
    },
    async list(name) {
      mcpConnection(deps.connections, name);
      const rows = await deps.store.listToolPins(name);
      const voters = new Map<string, Promise<string[]>>();
      const approvedBy = (id: string) => {
        let found = voters.get(id);
        if (!found) {
          found = deps.store.listApprovalVotes(id).then((votes) => votes.filter((v) => v.vote === 'approve').map((v) => v.approverName));
          voters.set(id, found);
        }
        return found;
      };
      return Promise.all(
        rows.map(async (row) => ({
          tool: row.tool,
          hash: row.hash,
          pinnedAt: row.pinnedAt,
          pinnedBy: row.pinnedBy,
          approvalId: row.approvalId,
          approvedBy: row.approvalId === null ? [] : await approvedBy(row.approvalId),
          flags: flagsOf(row.definitionJson),
        })),
      );
    },
  };
}

function flagsOf(json: string): string[] {
  try {
    return toolFlags(JSON.parse(json) as Record<string, unknown>);
  } catch {
    return [];
  }
}
