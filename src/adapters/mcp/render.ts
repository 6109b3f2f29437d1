/**
 * A GatewayError in MCP's words: a JSON-RPC error whose `data.gatehouse` carries our code and safe
 * details, or, for a tool call that policy or an approval stopped, a tool result with `isError`
 * that the model reads (the rule, the approval id and what to do), as MCP asks of tool failures.
 */
import type { ServerResponse } from 'node:http';
import type { JSONRPCErrorResponse, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayError, ErrorCode } from '../../errors.ts';

type Id = string | number;

/** JSON-RPC's own codes where they fit; the server range (-32000) with our code in data otherwise. */
const RPC_CODE: Partial<Record<ErrorCode, number>> = {
  bad_request: -32600,
  protocol_error: -32600,
  body_too_large: -32600,
  invalid_argument: -32602,
  not_found: -32001,
};

/** Refusals a tool call answers as a tool result, so the model can tell its user what happened. */
const TOOL_RESULT_CODES: ReadonlySet<ErrorCode> = new Set(['policy_denied', 'approval_required', 'approval_denied', 'approval_expired', 'approval_withdrawn']);

function data(error: GatewayError): { gatehouse: Record<string, unknown> } {
  return { gatehouse: { code: error.code, ...error.details } };
}

export function rpcError(id: Id | undefined, error: GatewayError): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', ...(id === undefined ? {} : { id }), error: { code: RPC_CODE[error.code] ?? -32000, message: error.message, data: data(error) } };
}

/** The answer to a refused request: a tool error result for a tool call stopped by policy or approval, a JSON-RPC error otherwise. */
export function refusal(id: Id, method: string, error: GatewayError): JSONRPCMessage {
  if (method === 'tools/call' && TOOL_RESULT_CODES.has(error.code)) {
    return {
      jsonrpc: '2.0',
      id,
      result: { content: [{ type: 'text', text: `Gatehouse: ${error.message}` }], isError: true, _meta: { 'gatehouse/error': data(error).gatehouse } },
    };
  }
  return rpcError(id, error);
}

/** A refusal before any session or message exists (HTTP level): the error as a JSON-RPC body with the matching status. */
export function writeRpcError(res: ServerResponse, error: GatewayError, id: Id | null = null): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id, error: { code: RPC_CODE[error.code] ?? -32000, message: error.message, data: data(error) } });
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'x-gatehouse-error': error.code, 'content-length': Buffer.byteLength(body) };
  if (error.status === 401) headers['www-authenticate'] = 'Bearer realm="gatehouse"';
  res.writeHead(error.status, headers);
  res.end(body);
}
