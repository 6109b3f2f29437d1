/**
 * SQL and row mapping for MCP tool pins (migrations 14 and 22). A pin is replaced whole: an approved change
 * writes the new hash and definition over the old in one statement both engines run.
 */
import type { SqlValue } from './rows.ts';
import type { ToolPinRow } from './types.ts';

type DbRecord = Record<string, unknown>;

export const TOOL_PIN_SQL = {
  list: 'SELECT connection, tool, hash, definition_json, pinned_at, approval_id, pinned_by FROM mcp_tool_pins WHERE connection = ? ORDER BY tool',
  put: `INSERT INTO mcp_tool_pins (connection, tool, hash, definition_json, pinned_at, approval_id, pinned_by) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (connection, tool) DO UPDATE SET hash = excluded.hash, definition_json = excluded.definition_json,
      pinned_at = excluded.pinned_at, approval_id = excluded.approval_id, pinned_by = excluded.pinned_by`,
  delete: 'DELETE FROM mcp_tool_pins WHERE connection = ? AND tool = ?',
} as const;

export function toolPinParams(row: ToolPinRow): SqlValue[] {
  return [row.connection, row.tool, row.hash, row.definitionJson, row.pinnedAt, row.approvalId, row.pinnedBy];
}

export function toToolPin(r: DbRecord): ToolPinRow {
  return {
    connection: r.connection as string,
    tool: r.tool as string,
    hash: r.hash as string,
    definitionJson: r.definition_json as string,
    pinnedAt: Number(r.pinned_at),
    approvalId: (r.approval_id as string | null) ?? null,
    pinnedBy: (r.pinned_by as string | null) ?? null,
  };
}
