/**
 * An MCP connection's tool pins: read them (admin, auditor), or pin the tool server's list as it is
 * now (admin only, trust on first use: recorded as an admin action with what was pinned).
 */
import { z } from 'zod';
import { InternalError } from '../errors.ts';
import { CONNECTION_NAME } from '../config/schema.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { McpPinAdmin } from '../adapters/mcp/pin-admin.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const byName = z.object({
  name: z.string().regex(CONNECTION_NAME, 'lower-case letters, digits, ".", "_" or "-", at most 63 characters').describe('The MCP connection'),
});

const hash = z.string().describe('SHA-256 (hex) of the tool definition as canonical JSON');
const flags = z.array(z.string()).describe('What the definition scan found (docs/mcp.md, Flags)');

const pinView = z
  .object({
    tool: z.string(),
    hash,
    pinnedAt: epochMs,
    pinnedBy: z.string().nullable().describe('The admin who pinned it directly (gatehouse mcp pin), or null'),
    approvalId: z.string().nullable().describe('The approval that pinned it, or null'),
    approvedBy: z.array(z.string()).describe('Who approved that approval'),
    flags,
  })
  .meta({ id: 'McpToolPin' });

const pinsView = z.object({ connection: z.string(), pins: z.array(pinView) }).meta({ id: 'McpToolPins' });

const pinnedView = z
  .object({
    connection: z.string(),
    pinned: z.array(z.object({ tool: z.string(), hash, flags })).describe('Every tool now pinned, as the tool server listed it'),
    removed: z.array(z.string()).describe('Pins of tools the server no longer lists, dropped'),
    duplicates: z.array(z.string()).describe('Names listed more than once: pinned for neither, so not usable'),
    skipped: z.number().int().describe('Listed entries not pinned (duplicates, no usable name, too deep or too large)'),
  })
  .meta({ id: 'McpPinnedList' });

export function registerMcpPinRoutes(api: Api, deps: ApiDeps): void {
  // Registered whatever the deps, so the OpenAPI document always describes them.
  const admin = (): McpPinAdmin => {
    if (!deps.mcpPins) throw new InternalError('MCP tool pinning is not wired into this API');
    return deps.mcpPins;
  };

  api.route({
    method: 'GET',
    url: '/connections/:name/mcp/pins',
    schema: {
      tags: ['connections'],
      operationId: 'listMcpToolPins',
      summary: "An MCP connection's pinned tool definitions: hash, when, and who pinned or approved each",
      params: byName,
      response: { 200: pinsView.describe('The pins, by tool name'), ...errorResponses },
    },
    config: { allow: ['auditor'] },
    handler: async (request) => ({ connection: request.params.name, pins: await admin().list(request.params.name) }),
  });

  api.route({
    method: 'POST',
    url: '/connections/:name/mcp/pins',
    schema: {
      tags: ['connections'],
      operationId: 'pinMcpTools',
      summary: "Pin an MCP connection's tools as its server lists them now (trust on first use by an admin)",
      description:
        "The gateway reads the server's whole tool list itself, with the credential it holds (or a process it starts and stops), and the connection's pins become exactly that list: new and changed tools are pinned, pins of tools no longer listed are dropped. Sessions use the new pins at their next list or call. Recorded as an admin action naming every tool and hash pinned.",
      params: byName,
      body: z.object({}).strict().optional(),
      response: { 200: pinnedView.describe('What is pinned now'), ...errorResponses },
    },
    handler: async (request) => {
      const caller = request.caller!;
      const by = `${caller.auth.principal.name} (${caller.auth.principal.id})`;
      const result = await admin().pin(request.params.name, by);
      noteAction(request, {
        target: request.params.name,
        details: { pinned: result.pinned.map((p) => `${p.tool} ${p.hash}`), removed: result.removed, duplicates: result.duplicates, skipped: result.skipped },
      });
      return { ...result, pinned: result.pinned.map((p) => ({ ...p, flags: [...p.flags] })) };
    },
  });
}
