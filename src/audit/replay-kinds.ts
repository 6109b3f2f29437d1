/**
 * What a recorded request and answer said, read per kind from the recorded (already masked)
 * bodies: the conversation of an LLM call, a statement and its result summary, a tool call and
 * its result, or an HTTP request. Recordings are bounded and may be cut, so every reader is
 * lenient: a body it cannot read is shown as the text it is.
 */
import type { InteractionRow } from '../store/types.ts';

export interface ReplayMessage {
  readonly role: string;
  readonly text: string;
}

export interface ReplayToolCall {
  readonly name: string;
  readonly arguments: string;
}

/** One shape for every kind (fields a kind has no use for are absent), so the API describes it once. */
export interface ReplayRequest {
  readonly type: 'llm' | 'sql' | 'mcp' | 'http';
  readonly method?: string | null;
  readonly target?: string | null;
  readonly model?: string | null;
  /** LLM: the conversation sent, system prompt first. */
  readonly messages?: ReplayMessage[];
  /** LLM: the tools offered. */
  readonly tools?: string[];
  /** SQL: the statement; params for the extended protocol. */
  readonly sql?: string | null;
  readonly params?: unknown[] | null;
  /** MCP: the tool and its arguments (JSON text). */
  readonly tool?: string | null;
  readonly arguments?: string | null;
  /** The recorded body when no reader applies (HTTP, or one that could not be read). */
  readonly body?: string | null;
}

export interface ReplayResponse {
  readonly type: 'llm' | 'sql' | 'mcp' | 'http';
  readonly status?: number | null;
  /** LLM: the answer's text; MCP: the result's text content. */
  readonly text?: string | null;
  readonly toolCalls?: ReplayToolCall[];
  /** SQL: the command tag (SELECT 2, INSERT 0 1) and the rows it returned or changed. */
  readonly command?: string | null;
  readonly rows?: number | null;
  /** The target's error, as the client received it. */
  readonly error?: { readonly code: string | null; readonly message: string } | null;
  /** MCP: the tool reported a failure (isError). */
  readonly isError?: boolean;
  readonly body?: string | null;
}

type Json = Record<string, unknown>;

function parse(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The text of a message's content however a provider shapes it: a string, parts with text, Gemini's parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map(textOf).filter((t) => t !== '').join('\n');
  if (!isObject(content)) return '';
  if (typeof content.text === 'string') return content.text;
  if (content.type === 'tool_use' || content.type === 'function_call') return `[tool call ${str(content.name) ?? '?'}]`;
  if (content.type === 'tool_result') return textOf(content.content);
  if (typeof content.type === 'string' && content.type !== 'text') return `[${content.type}]`;
  if (Array.isArray(content.parts)) return textOf(content.parts);
  return '';
}

function messagesOf(body: Json): ReplayMessage[] {
  const out: ReplayMessage[] = [];
  const system = body.system ?? body.instructions ?? (isObject(body.systemInstruction) ? body.systemInstruction.parts : undefined);
  if (system !== undefined) out.push({ role: 'system', text: textOf(system) });
  const list = body.messages ?? body.contents ?? body.input ?? body.prompt;
  if (typeof list === 'string') out.push({ role: 'user', text: list });
  else if (Array.isArray(list)) {
    for (const m of list) {
      if (isObject(m)) out.push({ role: str(m.role) ?? 'user', text: textOf(m.content ?? m.parts ?? m) });
      else out.push({ role: 'user', text: textOf(m) });
    }
  }
  return out;
}

function toolsOf(body: Json): string[] {
  if (!Array.isArray(body.tools)) return [];
  return body.tools.map((t) => (isObject(t) ? (str(isObject(t.function) ? t.function.name : undefined) ?? str(t.name) ?? '?') : '?'));
}

function toolCallsOf(message: Json): ReplayToolCall[] {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  return calls.filter(isObject).map((c) => {
    const fn = isObject(c.function) ? c.function : c;
    return { name: str(fn.name) ?? '?', arguments: typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? fn.input ?? {}) };
  });
}

function llmAnswer(body: unknown): { text: string | null; toolCalls: ReplayToolCall[]; error: ReplayResponse['error'] } | null {
  if (!isObject(body)) return null;
  if (isObject(body.error)) return { text: null, toolCalls: [], error: { code: str(body.error.code) ?? str(body.error.type), message: str(body.error.message) ?? '' } };
  if (Array.isArray(body.choices)) {
    const first = body.choices.find(isObject);
    const message = first && isObject(first.message) ? first.message : first ?? {};
    return { text: textOf(message.content ?? message.text), toolCalls: toolCallsOf(message), error: null };
  }
  if (Array.isArray(body.content)) {
    const toolCalls = body.content.filter((p): p is Json => isObject(p) && p.type === 'tool_use').map((p) => ({ name: str(p.name) ?? '?', arguments: JSON.stringify(p.input ?? {}) }));
    return { text: textOf(body.content.filter((p) => !(isObject(p) && p.type === 'tool_use'))), toolCalls, error: null };
  }
  if (Array.isArray(body.candidates)) {
    const first = body.candidates.find(isObject);
    return { text: first ? textOf(first.content) : '', toolCalls: [], error: null };
  }
  if (typeof body.output_text === 'string') return { text: body.output_text, toolCalls: [], error: null };
  if (Array.isArray(body.output)) return { text: textOf(body.output.map((o) => (isObject(o) ? o.content : o))), toolCalls: [], error: null };
  return null;
}

export function readRequest(row: InteractionRow): ReplayRequest {
  const kind = row.kind;
  if (kind.startsWith('llm.')) {
    const body = parse(row.requestBody);
    if (isObject(body)) return { type: 'llm', model: row.model, messages: messagesOf(body), tools: toolsOf(body) };
    return { type: 'llm', model: row.model, messages: [], tools: [], body: row.requestBody };
  }
  if (kind === 'sql.query') {
    // The simple protocol records the statement; the extended one {sql, params}.
    const body = parse(row.requestBody);
    if (isObject(body) && typeof body.sql === 'string') return { type: 'sql', sql: body.sql, params: Array.isArray(body.params) ? body.params : null };
    return { type: 'sql', sql: row.requestBody ?? row.target, params: null };
  }
  if (kind.startsWith('mcp.')) return { type: 'mcp', method: row.method, tool: row.target, arguments: row.requestBody };
  return { type: 'http', method: row.method, target: row.target, body: row.requestBody };
}

/** Null when nothing came back: the request was refused, or never answered. */
export function readResponse(row: InteractionRow): ReplayResponse | null {
  // A refusal's only answer is the gateway's own error, which errorCode names.
  if (row.responseBody === null && row.upstreamCode === null && (row.responseStatus === null || row.errorCode !== null)) return null;
  const body = parse(row.responseBody);
  if (row.kind.startsWith('llm.')) {
    // A stream is recorded as its reassembled text, which is not JSON.
    const answer = llmAnswer(body);
    if (answer) return { type: 'llm', status: row.responseStatus, ...answer };
    return { type: 'llm', status: row.responseStatus, text: row.responseBody, toolCalls: [], error: null };
  }
  if (row.kind === 'sql.query') {
    if (isObject(body)) {
      const error = isObject(body.error) ? { code: str(body.error.code), message: str(body.error.message) ?? '' } : null;
      return { type: 'sql', command: str(body.command), rows: typeof body.rows === 'number' ? body.rows : null, error };
    }
    return { type: 'sql', command: null, rows: null, error: row.upstreamCode ? { code: row.upstreamCode, message: '' } : null, body: row.responseBody };
  }
  if (row.kind.startsWith('mcp.')) {
    if (isObject(body) && typeof body.code === 'number' && typeof body.message === 'string') {
      return { type: 'mcp', error: { code: String(body.code), message: body.message }, text: null };
    }
    if (isObject(body)) {
      const text = textOf(body.content ?? body.contents ?? body.messages) || (body.structuredContent === undefined ? '' : JSON.stringify(body.structuredContent));
      return { type: 'mcp', text: text || row.responseBody, isError: body.isError === true, error: null };
    }
    return { type: 'mcp', text: row.responseBody, error: row.upstreamCode ? { code: row.upstreamCode, message: '' } : null };
  }
  return { type: 'http', status: row.responseStatus, body: row.responseBody };
}
