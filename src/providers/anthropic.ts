/**
 * Anthropic's Messages API (POST /v1/messages, /v1/messages/count_tokens, the legacy
 * /v1/complete). The gateway holds the x-api-key; the client's x-api-key (what the official
 * SDK sends) is its Gatehouse token. anthropic-version and anthropic-beta pass through.
 */
import type { GatewayError } from '../errors.ts';
import { requestedModel } from '../classify/llm.ts';
import type { InteractionKind } from '../interaction.ts';
import { isObject, jsonError, llmFacts, maxOf, tokenFrom, type Json } from './common.ts';
import { count, createUsageMeter } from './usage.ts';
import type { LlmProvider } from './types.ts';

const ROUTES: readonly [RegExp, InteractionKind][] = [
  [/^\/v1\/messages$/, 'llm.chat'],
  [/^\/v1\/complete$/, 'llm.completion'],
];

/** Text of a content block list (or a string), tool calls and results included. */
function blocksText(content: unknown, out: string[]): void {
  if (typeof content === 'string') {
    out.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isObject(block)) continue;
    for (const key of ['text', 'thinking'] as const) if (typeof block[key] === 'string') out.push(block[key] as string);
    // A tool call's arguments and a document's text are prompt text too.
    if (block.input !== undefined) out.push(JSON.stringify(block.input));
    if (block.content !== undefined) blocksText(block.content, out);
    if (isObject(block.source) && typeof block.source.data === 'string' && block.source.type === 'text') out.push(block.source.data);
  }
}

function collect(body: Json): { texts: string[]; tools: string[] } {
  const texts: string[] = [];
  blocksText(body.system, texts);
  if (typeof body.prompt === 'string') texts.push(body.prompt);
  if (Array.isArray(body.messages)) for (const m of body.messages) if (isObject(m)) blocksText(m.content, texts);
  const tools: string[] = [];
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools) if (isObject(tool) && typeof tool.name === 'string') tools.push(tool.name);
  }
  return { texts, tools };
}

const STATUS_TYPE: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

/** Anthropic's error `type` for an HTTP status, so its SDK raises the matching class. */
export function anthropicErrorType(status: number): string {
  return STATUS_TYPE[status] ?? 'api_error';
}

function readUsage(value: unknown): { inputTokens?: number; outputTokens?: number } | null {
  if (!isObject(value)) return null;
  // A body, message_start ({message: {usage}}) or message_delta ({usage}).
  const holder = isObject(value.message) ? value.message : value;
  const usage = holder.usage;
  if (!isObject(usage)) return null;
  const input = count(usage.input_tokens);
  const cached = (count(usage.cache_creation_input_tokens) ?? 0) + (count(usage.cache_read_input_tokens) ?? 0);
  return { inputTokens: input === undefined ? undefined : input + cached, outputTokens: count(usage.output_tokens) } as { inputTokens?: number; outputTokens?: number };
}

export const anthropicProvider: LlmProvider = {
  type: 'anthropic',

  clientSecret(headers) {
    return tokenFrom(headers, ['x-api-key']);
  },

  upstreamTarget(target) {
    return target;
  },

  route(method, path) {
    const folded = path.toLowerCase().replace(/\/+$/, '');
    const post = method.toUpperCase() === 'POST';
    for (const [pattern, kind] of ROUTES) if (post && pattern.test(folded)) return { kind, readsPrompt: true, pathModel: null, pathStreams: false, streamFormat: 'sse' };
    // count_tokens reads a whole conversation: classified (model, text) though nothing is generated.
    return { kind: 'llm.other', readsPrompt: post && folded === '/v1/messages/count_tokens', pathModel: null, pathStreams: false, streamFormat: 'none' };
  },

  classify(route, body, text) {
    const model = requestedModel(body, text);
    if (!isObject(body)) return llmFacts(model, false, [], [], null);
    const { texts, tools } = collect(body);
    return llmFacts(model, route.kind !== 'llm.other' && body.stream === true, texts, tools, maxOf(body, ['max_tokens', 'max_tokens_to_sample']));
  },

  requestedModel(_route, body) {
    return requestedModel(body);
  },

  streams(_route, facts) {
    return facts?.stream === true;
  },

  usageMeter(route, streaming) {
    if (route.kind === 'llm.other') return null;
    return createUsageMeter(streaming ? 'sse' : 'json', readUsage);
  },

  applyCredential(headers, credential) {
    if (credential === undefined) return;
    if (credential.type === 'bearer') headers['x-api-key'] = credential.value;
    else if (credential.type === 'header') headers[credential.header.toLowerCase()] = credential.value;
  },

  errorResponse(error: GatewayError) {
    return jsonError(error, { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message }, gatehouse: { code: error.code, ...error.details } });
  },
};
