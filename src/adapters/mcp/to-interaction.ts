/**
 * One JSON-RPC request from the agent (or from the tool server, for server-to-client requests)
 * as the runner's neutral draft. Tool calls carry their tool name and arguments as policy facts;
 * every other method its parameters. What is masked and forwarded is the draft's body: the tool's
 * arguments, or the parameters of any other method.
 */
import { BadRequest } from '../../errors.ts';
import type { RequestDraft } from '../../adapter-contract.ts';
import type { RequestLine } from '../../adapter-contract.ts';

/** Requests an agent may send a tool server (MCP 2025-11-25); anything else is refused here, never forwarded. */
export const CLIENT_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
]);

/** Requests a tool server may send the agent. `ping` is answered by the gateway itself. */
export const SERVER_METHODS: ReadonlySet<string> = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list']);

/** Notifications passed on from the agent to the tool server. */
export const CLIENT_NOTIFICATIONS: ReadonlySet<string> = new Set(['notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed']);

/** Notifications passed on from the tool server to the agent. */
export const SERVER_NOTIFICATIONS: ReadonlySet<string> = new Set([
  'notifications/cancelled',
  'notifications/progress',
  'notifications/message',
  'notifications/resources/updated',
  'notifications/resources/list_changed',
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
]);

export interface McpRequest {
  readonly method: string;
  readonly params?: Record<string, unknown> | undefined;
}

const TOOL_NAME_LIMIT = 256;

function objectOr(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** How a request is named in the record when its draft cannot be built. */
export function lineOf(request: McpRequest): RequestLine {
  const tool = request.method === 'tools/call' && typeof request.params?.name === 'string' ? request.params.name.slice(0, TOOL_NAME_LIMIT) : null;
  return { kind: request.method === 'tools/call' ? 'mcp.tool_call' : 'mcp.other', method: request.method.slice(0, 100), target: tool };
}

/** What a method's request names, for the record and for approvers: the tool, the resource or the prompt. */
function targetOf(method: string, params: Record<string, unknown>): string | null {
  if (method === 'resources/read' || method === 'resources/subscribe' || method === 'resources/unsubscribe') return typeof params.uri === 'string' ? params.uri : null;
  if (method === 'prompts/get') return typeof params.name === 'string' ? params.name : null;
  return null;
}

/**
 * The draft of one request. `direction` says who sent it: a server-to-client request is refused
 * here unless it is one the gateway knows to pass on, and so is a client method outside MCP.
 */
export function toRequestDraft(request: McpRequest, bytesIn: number, direction: 'client' | 'server'): RequestDraft {
  const { method } = request;
  const known = direction === 'client' ? CLIENT_METHODS : SERVER_METHODS;
  if (!known.has(method)) throw new BadRequest(`"${method.slice(0, 100)}" is not an MCP method the gateway passes on`);
  const params = objectOr(request.params, `the params of ${method}`);
  if (method === 'tools/call') {
    if (typeof params.name !== 'string' || params.name === '' || params.name.length > TOOL_NAME_LIMIT) {
      throw new BadRequest(`tools/call needs params.name, the tool's name (1 to ${TOOL_NAME_LIMIT} characters)`);
    }
    const args = objectOr(params.arguments, 'tools/call params.arguments');
    const text = JSON.stringify(args);
    return {
      kind: 'mcp.tool_call',
      summary: { mcp: { method, tool: params.name, arguments: args } },
      scanText: text,
      body: { type: 'json', value: args, text },
      method,
      target: params.name,
      model: null,
      bytesIn,
    };
  }
  // Everything but `_meta` (progress tokens) is what a rule reads and what is masked.
  const { _meta: _ignored, ...rest } = params;
  const text = JSON.stringify(rest);
  return {
    kind: 'mcp.other',
    summary: { mcp: { method, tool: null, arguments: rest } },
    scanText: text,
    body: { type: 'json', value: rest, text },
    method,
    target: targetOf(method, rest),
    model: null,
    bytesIn,
  };
}
