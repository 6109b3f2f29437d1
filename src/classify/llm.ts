import type { InteractionKind, LlmFacts } from '../interaction.ts';

const ENDPOINT_KINDS: readonly [RegExp, InteractionKind][] = [
  [/\/chat\/completions$/, 'llm.chat'],
  [/\/responses$/, 'llm.responses'],
  [/\/completions$/, 'llm.completion'],
  [/\/embeddings$/, 'llm.embeddings'],
];

/** Which OpenAI endpoint a POST path names; `llm.other` for the rest (models, files, …). */
export function llmKind(method: string, path: string): InteractionKind {
  if (method !== 'POST') return 'llm.other';
  for (const [pattern, kind] of ENDPOINT_KINDS) if (pattern.test(path)) return kind;
  return 'llm.other';
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Text of OpenAI content: a string or an array of parts ({type:'text', text} / input_text / output_text). */
function contentText(content: unknown, out: string[]): void {
  if (typeof content === 'string') out.push(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      if (typeof part === 'string') out.push(part);
      else if (isObject(part)) {
        if (typeof part.text === 'string') out.push(part.text);
        if (typeof part.output === 'string') out.push(part.output);
        if ('content' in part) contentText(part.content, out);
      }
    }
  }
}

function collectText(body: Json, out: string[]): void {
  if (typeof body.instructions === 'string') out.push(body.instructions);
  if (typeof body.system === 'string') out.push(body.system);
  for (const key of ['prompt', 'input'] as const) {
    const value = body[key];
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) {
      for (const item of value) {
        if (typeof item === 'string') out.push(item);
        else if (isObject(item)) {
          contentText(item.content, out);
          if (typeof item.output === 'string') out.push(item.output);
          if (typeof item.arguments === 'string') out.push(item.arguments);
        }
      }
    }
  }
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) {
      if (!isObject(message)) continue;
      contentText(message.content, out);
      if (Array.isArray(message.tool_calls)) {
        for (const call of message.tool_calls) {
          if (isObject(call) && isObject(call.function) && typeof call.function.arguments === 'string') out.push(call.function.arguments);
        }
      }
    }
  }
}

function toolNames(body: Json): string[] {
  if (!Array.isArray(body.tools)) return [];
  const names: string[] = [];
  for (const tool of body.tools) {
    if (!isObject(tool)) continue;
    if (isObject(tool.function) && typeof tool.function.name === 'string') names.push(tool.function.name);
    else if (typeof tool.name === 'string') names.push(tool.name);
    else if (typeof tool.type === 'string') names.push(tool.type);
  }
  return names;
}

function maxTokens(body: Json): number | null {
  for (const key of ['max_completion_tokens', 'max_output_tokens', 'max_tokens'] as const) {
    if (typeof body[key] === 'number') return body[key] as number;
  }
  return null;
}

/** Policy facts of an OpenAI-shaped request body. Token counts are estimates (4 characters a token). */
export function classifyLlmRequest(body: unknown): LlmFacts {
  if (!isObject(body)) {
    return { model: null, stream: false, messageText: '', toolNames: [], maxTokens: null, estimatedInputTokens: 0 };
  }
  const parts: string[] = [];
  collectText(body, parts);
  const messageText = parts.join('\n');
  return {
    model: typeof body.model === 'string' ? body.model : null,
    stream: body.stream === true,
    messageText,
    toolNames: toolNames(body),
    maxTokens: maxTokens(body),
    estimatedInputTokens: Math.ceil(messageText.length / 4),
  };
}
