/**
 * Policy facts (`request.llm.*`) of a Bedrock request, the same ones an OpenAI request gives: the
 * model is the path's model id (folded as classify/llm.ts folds names), the messages' text, the
 * tools, the output bound and a token estimate (4 characters a token).
 *
 * Converse / ConverseStream bodies are Bedrock's own shape. InvokeModel bodies are the model's:
 * Anthropic Messages (`anthropic_version`, `messages`), Amazon Nova (`messages` of `{text}`
 * parts), Amazon Titan Text (`inputText`), Meta Llama and Mistral (`prompt`), Cohere Command
 * (`message`, `chat_history`). A body of none of these families is still classified: its message
 * text is every string in it, so a rule on the prompt's content cannot be stepped around by a
 * shape the gateway does not know.
 */
import { foldModel } from '../../classify/llm.ts';
import type { LlmFacts } from '../../interaction.ts';
import type { BedrockRoute } from './route.ts';

type Json = Record<string, unknown>;

export type BodyFamily = 'converse' | 'anthropic' | 'nova' | 'titan' | 'prompt' | 'cohere' | 'unknown';

export interface BedrockFacts extends LlmFacts {
  /** Which body shape was read (recorded; `unknown` means every string was taken as message text). */
  readonly family: BodyFamily;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Every string in a value, depth-bounded (the JSON was parsed already, so this is about cost). */
function allStrings(value: unknown, out: string[], depth = 0): void {
  if (depth > 64) return;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) allStrings(v, out, depth + 1);
  else if (isObject(value)) for (const v of Object.values(value)) allStrings(v, out, depth + 1);
}

/** A tool's input or a JSON result: its text as JSON, so values in it are seen. */
function jsonText(value: unknown, out: string[]): void {
  if (value === undefined) return;
  out.push(typeof value === 'string' ? value : JSON.stringify(value));
}

/** Converse content blocks (also Nova's native ones): text, tool use and results, reasoning, documents' names. */
function converseBlocks(content: unknown, out: string[]): void {
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isObject(block)) continue;
    if (typeof block.text === 'string') out.push(block.text);
    if (isObject(block.toolUse)) jsonText(block.toolUse.input, out);
    if (isObject(block.toolResult)) {
      const result = block.toolResult.content;
      if (Array.isArray(result)) {
        for (const part of result) {
          if (!isObject(part)) continue;
          if (typeof part.text === 'string') out.push(part.text);
          if (part.json !== undefined) jsonText(part.json, out);
        }
      }
    }
    if (isObject(block.reasoningContent) && isObject(block.reasoningContent.reasoningText) && typeof block.reasoningContent.reasoningText.text === 'string') {
      out.push(block.reasoningContent.reasoningText.text);
    }
    if (isObject(block.guardContent) && isObject(block.guardContent.text) && typeof block.guardContent.text.text === 'string') out.push(block.guardContent.text.text);
    if (isObject(block.document) && typeof block.document.name === 'string') out.push(block.document.name);
  }
}

/** Anthropic content: a string, or blocks of text, tool_use input, tool_result content, thinking. */
function anthropicContent(content: unknown, out: string[], depth = 0): void {
  if (typeof content === 'string') {
    out.push(content);
    return;
  }
  if (!Array.isArray(content) || depth > 4) return;
  for (const block of content) {
    if (!isObject(block)) continue;
    if (typeof block.text === 'string') out.push(block.text);
    if (typeof block.thinking === 'string') out.push(block.thinking);
    if (block.type === 'tool_use') jsonText(block.input, out);
    if (block.type === 'tool_result') anthropicContent(block.content, out, depth + 1);
  }
}

function converseTools(body: Json): string[] {
  const config = body.toolConfig;
  if (!isObject(config) || !Array.isArray(config.tools)) return [];
  const names: string[] = [];
  for (const tool of config.tools) if (isObject(tool) && isObject(tool.toolSpec) && typeof tool.toolSpec.name === 'string') names.push(tool.toolSpec.name);
  return names;
}

function anthropicTools(body: Json): string[] {
  if (!Array.isArray(body.tools)) return [];
  const names: string[] = [];
  for (const tool of body.tools) if (isObject(tool) && typeof tool.name === 'string') names.push(tool.name);
  return names;
}

/** Which native family an InvokeModel body is, by the keys that family requires. */
export function bodyFamily(body: Json, converse: boolean): BodyFamily {
  if (converse) return 'converse';
  if (typeof body.anthropic_version === 'string') return 'anthropic';
  if (Array.isArray(body.messages)) {
    // Nova parts are `{text}` blocks; Anthropic's (without anthropic_version, refused by Bedrock anyway) are typed.
    const first = body.messages.find(isObject);
    const content = first?.content;
    return Array.isArray(content) && content.some((b) => isObject(b) && typeof b.type === 'string') ? 'anthropic' : 'nova';
  }
  if (typeof body.inputText === 'string') return 'titan';
  if (typeof body.prompt === 'string') return 'prompt';
  if (typeof body.message === 'string') return 'cohere';
  return 'unknown';
}

function collect(body: Json, family: BodyFamily): { text: string[]; tools: string[]; maxTokens: number | null } {
  const text: string[] = [];
  switch (family) {
    case 'converse':
    case 'nova': {
      if (Array.isArray(body.system)) converseBlocks(body.system, text);
      if (Array.isArray(body.messages)) for (const m of body.messages) if (isObject(m)) converseBlocks(m.content, text);
      const config = isObject(body.inferenceConfig) ? body.inferenceConfig : {};
      return { text, tools: converseTools(body), maxTokens: num(config.maxTokens) ?? num(config.max_new_tokens) };
    }
    case 'anthropic': {
      if (typeof body.system === 'string') text.push(body.system);
      else anthropicContent(body.system, text);
      if (Array.isArray(body.messages)) for (const m of body.messages) if (isObject(m)) anthropicContent(m.content, text);
      return { text, tools: anthropicTools(body), maxTokens: num(body.max_tokens) };
    }
    case 'titan': {
      text.push(body.inputText as string);
      const config = isObject(body.textGenerationConfig) ? body.textGenerationConfig : {};
      return { text, tools: [], maxTokens: num(config.maxTokenCount) };
    }
    case 'prompt':
      text.push(body.prompt as string);
      return { text, tools: [], maxTokens: num(body.max_gen_len) ?? num(body.max_tokens) };
    case 'cohere': {
      if (typeof body.preamble === 'string') text.push(body.preamble);
      if (Array.isArray(body.chat_history)) for (const turn of body.chat_history) if (isObject(turn) && typeof turn.message === 'string') text.push(turn.message);
      text.push(body.message as string);
      return { text, tools: anthropicTools(body), maxTokens: num(body.max_tokens) };
    }
    case 'unknown':
      allStrings(body, text);
      return { text, tools: [], maxTokens: null };
  }
}

/** The facts of one request; `body` is the parsed JSON (anything but an object reads as an unknown family). */
export function classifyBedrockRequest(route: BedrockRoute, body: unknown): BedrockFacts {
  const object = isObject(body) ? body : {};
  const family = isObject(body) ? bodyFamily(object, route.converse) : 'unknown';
  const { text, tools, maxTokens } = isObject(body) ? collect(object, family) : { text: [] as string[], tools: [] as string[], maxTokens: null };
  if (!isObject(body)) allStrings(body, text);
  const messageText = text.join('\n');
  return {
    model: foldModel(route.modelId),
    stream: route.stream,
    messageText,
    toolNames: tools,
    maxTokens,
    estimatedInputTokens: Math.ceil(messageText.length / 4),
    family,
  };
}
