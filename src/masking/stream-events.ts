/**
 * The one model of which strings in a streamed JSON event continue a text across events
 * (a "channel"), shared by the masker and by the transcript, so the two cannot drift. Covers
 * Chat Completions chunks (content, refusal, reasoning fields, audio transcripts, tool call
 * and legacy function call arguments), legacy Completions (`choices[].text`), every Responses
 * API `response.*.delta` event with a string delta, Anthropic's `content_block_delta` and
 * Gemini's `candidates[].content.parts[].text`.
 */
export type Json = Record<string, unknown>;

export const enum ChannelKind {
  /** `choices[i].delta[prop]` */
  ChatDelta,
  /** `choices[i].delta.audio.transcript` */
  ChatAudio,
  /** `choices[i].delta.tool_calls[j].function.arguments` */
  ChatTool,
  /** `choices[i].delta.function_call.arguments` */
  ChatFunction,
  /** `choices[i].text` (legacy completions) */
  CompletionText,
  /** A Responses event's top-level `delta` */
  EventDelta,
  /** `delta[prop]` of an Anthropic `content_block_delta` */
  BlockDelta,
  /** `candidates[i].content.parts[j].text` (Gemini), thoughts apart */
  PartText,
}

export interface StreamFieldVisitor {
  /** `holder[prop]` is a string that continues the channel named `key`. */
  field(holder: Json, prop: string, key: string, kind: ChannelKind, choice: number, sub: number): void;
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CHAT_FIELDS = ['content', 'refusal', 'reasoning', 'reasoning_content', 'thinking'] as const;
const BLOCK_FIELDS = ['text', 'partial_json', 'thinking'] as const;
// Responses deltas that are not text: base64 audio is masked per event as JSON.
const NOT_TEXT_DELTAS: ReadonlySet<string> = new Set(['response.audio.delta']);
const STREAM_END: ReadonlySet<string> = new Set(['response.completed', 'response.incomplete', 'response.failed', 'response.done', 'message_stop']);

function indexOr(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isInteger(v) ? v : fallback;
}

/** Calls the visitor for every channel string in `event`, in document order. */
export function visitStreamFields(event: Json, visitor: StreamFieldVisitor): void {
  const choices = event.choices;
  if (Array.isArray(choices)) {
    for (let pos = 0; pos < choices.length; pos++) {
      const choice = choices[pos];
      if (isObject(choice)) visitChoice(choice, indexOr(choice.index, pos), visitor);
    }
    return;
  }
  if (Array.isArray(event.candidates)) {
    visitCandidates(event.candidates, visitor);
    return;
  }
  const type = event.type;
  if (typeof type !== 'string') return;
  if (type.startsWith('response.') && type.endsWith('.delta')) {
    if (typeof event.delta === 'string' && !NOT_TEXT_DELTAS.has(type)) {
      const key = `r|${type}|${String(event.item_id)}|${String(event.output_index)}|${String(event.content_index)}|${String(event.summary_index)}`;
      visitor.field(event, 'delta', key, ChannelKind.EventDelta, 0, 0);
    }
  } else if (type === 'content_block_delta' && isObject(event.delta)) {
    const delta = event.delta;
    const index = indexOr(event.index, 0);
    for (const prop of BLOCK_FIELDS) {
      if (typeof delta[prop] === 'string') visitor.field(delta, prop, `b|${index}|${prop}`, ChannelKind.BlockDelta, 0, index);
    }
  }
}

function visitCandidates(candidates: readonly unknown[], visitor: StreamFieldVisitor): void {
  for (let pos = 0; pos < candidates.length; pos++) {
    const candidate = candidates[pos];
    if (!isObject(candidate) || !isObject(candidate.content) || !Array.isArray(candidate.content.parts)) continue;
    const index = indexOr(candidate.index, pos);
    for (const part of candidate.content.parts) {
      if (!isObject(part) || typeof part.text !== 'string') continue;
      const thought = part.thought === true ? 1 : 0;
      visitor.field(part, 'text', `g${index}.${thought}`, ChannelKind.PartText, index, thought);
    }
  }
}

function visitChoice(choice: Json, index: number, visitor: StreamFieldVisitor): void {
  if (typeof choice.text === 'string') visitor.field(choice, 'text', `x${index}`, ChannelKind.CompletionText, index, 0);
  const delta = choice.delta;
  if (!isObject(delta)) return;
  for (const prop of CHAT_FIELDS) {
    if (typeof delta[prop] === 'string') visitor.field(delta, prop, `c${index}.${prop}`, ChannelKind.ChatDelta, index, 0);
  }
  if (isObject(delta.audio) && typeof delta.audio.transcript === 'string') {
    visitor.field(delta.audio, 'transcript', `a${index}`, ChannelKind.ChatAudio, index, 0);
  }
  if (isObject(delta.function_call) && typeof delta.function_call.arguments === 'string') {
    visitor.field(delta.function_call, 'arguments', `f${index}`, ChannelKind.ChatFunction, index, 0);
  }
  const calls = delta.tool_calls;
  if (!Array.isArray(calls)) return;
  for (let pos = 0; pos < calls.length; pos++) {
    const call = calls[pos];
    if (!isObject(call) || !isObject(call.function) || typeof call.function.arguments !== 'string') continue;
    const tool = indexOr(call.index, pos);
    visitor.field(call.function, 'arguments', `t${index}.${tool}`, ChannelKind.ChatTool, index, tool);
  }
}

/** The event closes the stream's output: held text must go out before it. */
export function endsStream(event: Json): boolean {
  return typeof event.type === 'string' && STREAM_END.has(event.type);
}

/** An error event, in OpenAI's shape (`{"error": …}`, `event: error`) or as a typed event. */
export function isErrorEvent(eventName: string | null, event: Json): boolean {
  return eventName === 'error' || event.type === 'error' || (event.error !== undefined && event.error !== null && !Array.isArray(event.choices));
}

/** The label a transcript puts before a channel's text. */
export function channelLabel(kind: ChannelKind, prop: string, type: unknown): string {
  switch (kind) {
    case ChannelKind.ChatDelta:
    case ChannelKind.BlockDelta:
      return prop === 'refusal' ? '[refusal] ' : prop === 'partial_json' ? '[tool call] ' : prop === 'content' || prop === 'text' ? '' : '[reasoning] ';
    case ChannelKind.ChatAudio:
      return '[audio transcript] ';
    case ChannelKind.ChatTool:
    case ChannelKind.ChatFunction:
      return '[tool call] ';
    case ChannelKind.CompletionText:
      return '';
    case ChannelKind.PartText:
      return type === true ? '[reasoning] ' : '';
    case ChannelKind.EventDelta: {
      const t = String(type);
      if (t === 'response.output_text.delta' || t === 'response.text.delta') return '';
      if (t.includes('refusal')) return '[refusal] ';
      if (t.includes('reasoning')) return '[reasoning] ';
      if (t.includes('arguments') || t.includes('tool_call_input')) return '[tool call] ';
      return `[${t.slice('response.'.length, -'.delta'.length)}] `;
    }
  }
}
