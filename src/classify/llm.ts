import { BadRequest } from '../errors.ts';
import type { InteractionKind, LlmFacts } from '../interaction.ts';

const ENDPOINT_KINDS: readonly [RegExp, InteractionKind][] = [
  [/\/chat\/completions$/, 'llm.chat'],
  [/\/responses$/, 'llm.responses'],
  [/\/completions$/, 'llm.completion'],
  [/\/embeddings$/, 'llm.embeddings'],
];

/**
 * Which OpenAI endpoint a POST path names; `llm.other` for the rest (models, files, …). The path is
 * the normalised one (adapters/http/path.ts). It is compared case-folded and without trailing
 * slashes because OpenAI-compatible servers differ on both (case-insensitive routers, frameworks
 * that ignore a trailing slash), and a rule on `llm.chat` must hold on every one of them.
 */
export function llmKind(method: string, path: string): InteractionKind {
  if (method.toUpperCase() !== 'POST') return 'llm.other';
  const folded = path.toLowerCase().replace(/\/+$/, '');
  for (const [pattern, kind] of ENDPOINT_KINDS) if (pattern.test(folded)) return kind;
  return 'llm.other';
}

/**
 * How policy reads a model name: NFKC, trimmed and lower-cased, so that `GPT-4o`, ` gpt-4o` or a
 * fullwidth spelling meets the rule written for `gpt-4o` on upstreams that fold names. Rules
 * written in lower case keep working; the upstream and the recording get the name as sent.
 */
export function foldModel(model: string): string {
  return model.normalize('NFKC').trim().toLowerCase();
}

/**
 * The model a JSON body names, as sent, or null when it names none. A model given as anything but
 * a string, or given twice (JSON.parse keeps the last, an upstream may read the first), is refused:
 * policy would decide on one model and the upstream could run another. `text` is the body as sent;
 * without it, duplicates cannot be seen.
 */
export function requestedModel(body: unknown, text?: string): string | null {
  if (!isObject(body) || !Object.hasOwn(body, 'model')) return null;
  const model = body.model;
  if (typeof model !== 'string') throw new BadRequest('"model" must be a string', { details: { field: 'model' } });
  if (text !== undefined && topLevelKeyCount(text, 'model') > 1) {
    throw new BadRequest('"model" is given more than once', { details: { field: 'model' } });
  }
  return model;
}

function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/**
 * How often `key` names a member of the top-level object in `text`, which JSON.parse has already
 * accepted. Keys are compared decoded, so `"mod\u0065l"` counts as `model`.
 */
export function topLevelKeyCount(text: string, key: string): number {
  let depth = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i++;
        else if (c === 0x22) break;
      }
      if (depth !== 1) continue;
      let j = i + 1;
      while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
      // Escapes make a key at most six times longer than its text: anything longer is another key.
      if (text[j] === ':' && i + 1 - start <= key.length * 6 + 2 && JSON.parse(text.slice(start, i + 1)) === key) count++;
    } else if (code === 0x7b || code === 0x5b) depth++;
    else if (code === 0x7d || code === 0x5d) depth--;
  }
  return count;
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

/**
 * Policy facts of an OpenAI-shaped request body. Token counts are estimates (4 characters a token).
 * The model is folded (foldModel); a body naming it twice or as a non-string is refused
 * (requestedModel), whichever masking profile applies.
 */
export function classifyLlmRequest(body: unknown, text?: string): LlmFacts {
  const model = requestedModel(body, text);
  if (!isObject(body)) {
    return { model: null, stream: false, messageText: '', toolNames: [], maxTokens: null, estimatedInputTokens: 0 };
  }
  const parts: string[] = [];
  collectText(body, parts);
  const messageText = parts.join('\n');
  return {
    model: model === null ? null : foldModel(model),
    stream: body.stream === true,
    messageText,
    toolNames: toolNames(body),
    maxTokens: maxTokens(body),
    estimatedInputTokens: Math.ceil(messageText.length / 4),
  };
}
