/**
 * `gatehouse mcp`: an MCP connection's tool pins. `pin` has the gateway read the tool server's
 * list itself and pin it as it is now (trust on first use by an admin, recorded as an admin
 * action); `pins` shows what is pinned, with hashes, when and by whom.
 */
import { Command } from 'commander';
import { callApi, clientSettings } from './api-client.ts';
import { action, table, time } from './output.ts';

type Print = (text: string) => void;

interface PinnedList {
  connection: string;
  pinned: { tool: string; hash: string; flags: string[] }[];
  removed: string[];
  duplicates: string[];
  skipped: number;
}

interface Pins {
  connection: string;
  pins: { tool: string; hash: string; pinnedAt: number; pinnedBy: string | null; approvalId: string | null; approvedBy: string[]; flags: string[] }[];
}

// Tool names come from a tool server: they must not drive the admin's terminal (escape sequences).
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, '�');
const pinsPath = (connection: string) => `/connections/${encodeURIComponent(connection)}/mcp/pins`;

function describePinned(result: PinnedList): string {
  const lines = [`pinned ${result.pinned.length} tool(s) of ${result.connection} as its server lists them now:`];
  lines.push(table(result.pinned.map((p) => ({ tool: printable(p.tool), hash: p.hash, flags: p.flags.join(',') })), ['tool', 'hash', 'flags']));
  if (result.removed.length > 0) lines.push(`dropped the pins of tools no longer listed: ${result.removed.map(printable).join(', ')}`);
  if (result.duplicates.length > 0) lines.push(`not pinned, listed more than once (unusable): ${result.duplicates.map(printable).join(', ')}`);
  if (result.skipped > result.duplicates.length) lines.push(`${result.skipped} listed entr(ies) could not be pinned (see the gateway log)`);
  if (result.pinned.some((p) => p.flags.length > 0)) lines.push('some tools carry flags: rules reading request.mcp.tool_flags still apply to them');
  return lines.join('\n');
}

export function mcpCommands(print: Print): Command[] {
  const mcp = new Command('mcp').description('MCP connections: pin their tool definitions, show the pins');
  mcp
    .command('pin <connection>')
    .description("pin the connection's tools as its server lists them now (the gateway reads the list itself); recorded as your admin action")
    .action(
      action(print, async (connection: string) => {
        const result = await callApi<PinnedList>(await clientSettings(), 'POST', pinsPath(connection), {});
        return { json: result, human: describePinned(result) };
      }),
    );
  mcp
    .command('pins <connection>')
    .description("show the connection's pinned tools: hash, when, and who pinned or approved each")
    .action(
      action(print, async (connection: string) => {
        const result = await callApi<Pins>(await clientSettings(), 'GET', pinsPath(connection));
        const rows = result.pins.map((p) => ({
          tool: printable(p.tool),
          hash: p.hash,
          pinned: time(p.pinnedAt),
          by: p.pinnedBy !== null ? printable(p.pinnedBy) : `approval ${p.approvalId ?? '?'}${p.approvedBy.length > 0 ? ` (${p.approvedBy.map(printable).join(', ')})` : ''}`,
          flags: p.flags.join(','),
        }));
        const human = rows.length === 0 ? `no pins on ${connection}: its tools are withheld until an admin runs gatehouse mcp pin ${connection} or an approver approves its first list` : table(rows, ['tool', 'hash', 'pinned', 'by', 'flags']);
        return { json: result, human };
      }),
    );
  return [mcp];
}
