import { MaskingError } from '../errors.ts';
import { type SseEvent, SseEventSplitter } from './sse-events.ts';
import type { Finding, MaskProfile, TextStreamMasker } from './types.ts';

export interface OpenAiSseMaskerOptions {
  /** Largest single event accepted; a longer one fails the stream (MaskingError). Default 8 MiB. */
  readonly maxEventBytes?: number;
}

export interface OpenAiSseMasker {
  /** Raw `text/event-stream` bytes in; masked SSE text to send on out. */
  push(chunk: Buffer | string): string;
  end(): string;
  /** Findings so far; `path` names the stream (`choices[0].delta.content`), offsets are within it. */
  readonly findings: readonly Finding[];
}

type Json = Record<string, unknown>;

/** One masked text stream inside the SSE stream, and how to build an event that carries its held tail. */
interface Channel {
  readonly masker: TextStreamMasker;
  readonly path: string;
  /** Chat choice index, for flushing when that choice finishes. */
  readonly choice: number | null;
  flushEvent(text: string): Json;
  /** The flush event repeats the `event:` line when the stream's events had one. */
  readonly eventName: string | null;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const CHAT_ENVELOPE = ['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier'] as const;
const RESPONSE_END = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const LINE_BREAK = /\r\n|\r|\n/;

interface ParsedEvent {
  readonly lines: string[];
  readonly eventName: string | null;
  /** Index of the first `data:` line, -1 when there is none. */
  readonly dataLine: number;
  readonly data: string;
  readonly eol: string;
}

/** The line break an event uses: from its terminator, else from its own lines. */
function lineBreakOf(raw: string, terminator: string): string {
  if (terminator.startsWith('\r\n')) return '\r\n';
  if (terminator !== '') return terminator[0]!;
  return raw.includes('\r\n') ? '\r\n' : raw.includes('\r') ? '\r' : '\n';
}

function parseEvent(raw: string, terminator: string): ParsedEvent {
  const lines = raw.split(LINE_BREAK);
  let eventName: string | null = null;
  let dataLine = -1;
  let data: string[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('data:')) {
      if (dataLine === -1) dataLine = i;
      (data ??= []).push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
    } else if (line.startsWith('event:')) {
      eventName = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
    }
  }
  return { lines, eventName, dataLine, data: data === null ? '' : data.join('\n'), eol: lineBreakOf(raw, terminator) };
}

/** The event with its data replaced by `value` (one data line) and every other line kept. */
function rewrite(event: ParsedEvent, value: unknown): string {
  const lines: string[] = [];
  for (let i = 0; i < event.lines.length; i++) {
    const line = event.lines[i]!;
    if (i === event.dataLine) lines.push(`data: ${JSON.stringify(value)}`);
    else if (!line.startsWith('data:')) lines.push(line);
  }
  return lines.join(event.eol);
}

/**
 * Masks an OpenAI-compatible SSE stream (Chat Completions and Responses) as it flows: each
 * choice's `delta.content`, each tool call's `function.arguments`, and the Responses text and
 * argument deltas go through their own streaming masker, so a value split across events is
 * still caught while the rest of each event is sent on at once. Text a masker holds back is
 * flushed as an extra delta event before the event that finishes its choice, before
 * `data: [DONE]` or `response.completed`, and at end(). Events the masker does not know
 * (comments, non-JSON data, other objects) pass through byte for byte.
 */
class SseMasker implements OpenAiSseMasker {
  private readonly splitter: SseEventSplitter;
  private readonly channels = new Map<string, Channel>();
  private readonly closedFindings: Finding[] = [];
  private chatEnvelope: Json = {};
  private eol = '\n';
  private failed = false;

  constructor(
    private readonly profile: MaskProfile,
    options: OpenAiSseMaskerOptions,
  ) {
    this.splitter = new SseEventSplitter(options.maxEventBytes ?? 8 * 1024 * 1024);
  }

  get findings(): readonly Finding[] {
    const open = [...this.channels.values()].flatMap((c) => c.masker.findings.map((f) => ({ ...f, path: c.path })));
    return [...this.closedFindings, ...open];
  }

  push(chunk: Buffer | string): string {
    return this.guard(() => this.handleAll(this.splitter.push(chunk)));
  }

  end(): string {
    return this.guard(() => {
      const out = this.handleAll(this.splitter.end());
      this.failed = true; // no use after end
      return out + this.flushAll();
    });
  }

  private guard(fn: () => string): string {
    if (this.failed) throw new MaskingError('SSE masker used after end() or a failure');
    try {
      return fn();
    } catch (err) {
      this.failed = true;
      throw err instanceof MaskingError ? err : new MaskingError('SSE masking failed', { cause: err });
    }
  }

  private handleAll(events: readonly SseEvent[]): string {
    let out = '';
    for (const e of events) out += this.handle(e);
    return out;
  }

  private handle(e: SseEvent): string {
    const passThrough = e.raw + e.terminator;
    if (e.raw.indexOf('data:') === -1) return passThrough;
    const event = parseEvent(e.raw, e.terminator);
    if (e.terminator !== '') this.eol = event.eol;
    if (event.data.trim() === '[DONE]') return this.flushAll() + passThrough;
    if (event.data.charCodeAt(0) !== 123 /* { */) return passThrough;
    let obj: unknown;
    try {
      obj = JSON.parse(event.data);
    } catch {
      return passThrough;
    }
    if (!isObject(obj)) return passThrough;
    let result: { before: string; value: unknown } | null = null;
    if (Array.isArray(obj.choices)) result = this.handleChat(obj);
    else if (typeof obj.type === 'string' && obj.type.startsWith('response.')) result = this.handleResponses(obj, event.eventName);
    if (result === null) return passThrough;
    return result.before + rewrite(event, result.value) + e.terminator;
  }

  /** Masks a chat.completion.chunk in place; null when nothing in it changed. */
  private handleChat(chunk: Json): { before: string; value: unknown } | null {
    const envelope: Json = {};
    for (const k of CHAT_ENVELOPE) if (k in chunk) envelope[k] = chunk[k];
    this.chatEnvelope = envelope;
    let changed = false;
    let before = '';
    const choices = chunk.choices as unknown[];
    for (let pos = 0; pos < choices.length; pos++) {
      const choice = choices[pos];
      if (!isObject(choice)) continue;
      const index = typeof choice.index === 'number' ? choice.index : pos;
      const delta = isObject(choice.delta) ? choice.delta : null;
      if (delta !== null && typeof delta.content === 'string') {
        const masked = this.chatChannel(index, null).masker.push(delta.content);
        if (masked !== delta.content) {
          delta.content = masked;
          changed = true;
        }
      }
      const toolCalls = delta !== null && Array.isArray(delta.tool_calls) ? delta.tool_calls : [];
      for (let t = 0; t < toolCalls.length; t++) {
        const call = toolCalls[t];
        const fn = isObject(call) && isObject(call.function) ? call.function : null;
        if (fn === null || typeof fn.arguments !== 'string') continue;
        const tool = typeof (call as Json).index === 'number' ? ((call as Json).index as number) : t;
        const masked = this.chatChannel(index, tool).masker.push(fn.arguments);
        if (masked !== fn.arguments) {
          fn.arguments = masked;
          changed = true;
        }
      }
      if (choice.finish_reason === null || choice.finish_reason === undefined) continue;
      // The choice is done: its held text goes out now, in this event when it has room, else just before it.
      for (const [key, channel] of this.channels) {
        if (channel.choice !== index) continue;
        const rest = this.close(key, channel);
        if (rest === '') continue;
        const tool = key.startsWith('t:') ? Number(key.slice(key.lastIndexOf(':') + 1)) : null;
        const target = tool === null ? (delta !== null && typeof delta.content === 'string' ? delta : null) : this.toolFunction(toolCalls, tool);
        const field = tool === null ? 'content' : 'arguments';
        if (target !== null) {
          target[field] = (target[field] as string) + rest;
          changed = true;
        } else {
          before += this.eventText(channel.eventName, channel.flushEvent(rest));
        }
      }
    }
    return changed || before !== '' ? { before, value: chunk } : null;
  }

  private toolFunction(toolCalls: readonly unknown[], tool: number): Json | null {
    for (let t = 0; t < toolCalls.length; t++) {
      const call = toolCalls[t];
      if (!isObject(call) || !isObject(call.function) || typeof call.function.arguments !== 'string') continue;
      if ((typeof call.index === 'number' ? call.index : t) === tool) return call.function;
    }
    return null;
  }

  private chatChannel(choice: number, tool: number | null): Channel {
    const key = tool === null ? `c:${choice}` : `t:${choice}:${tool}`;
    let channel = this.channels.get(key);
    if (channel === undefined) {
      const envelope = (): Json => ({ ...this.chatEnvelope });
      channel = {
        masker: this.profile.createTextStream(),
        path: tool === null ? `choices[${choice}].delta.content` : `choices[${choice}].delta.tool_calls[${tool}].function.arguments`,
        choice,
        eventName: null,
        flushEvent: (text) => ({
          ...envelope(),
          choices: [
            {
              index: choice,
              delta: tool === null ? { content: text } : { tool_calls: [{ index: tool, function: { arguments: text } }] },
              finish_reason: null,
            },
          ],
        }),
      };
      this.channels.set(key, channel);
    }
    return channel;
  }

  private handleResponses(event: Json, eventName: string | null): { before: string; value: unknown } | null {
    const type = event.type as string;
    const textKey = `r:${String(event.item_id)}:${String(event.output_index)}:${String(event.content_index)}`;
    const argsKey = `a:${String(event.item_id)}:${String(event.output_index)}`;
    switch (type) {
      case 'response.output_text.delta':
      case 'response.function_call_arguments.delta': {
        if (typeof event.delta !== 'string') return null;
        const text = type === 'response.output_text.delta';
        const channel = this.responsesChannel(text ? textKey : argsKey, event, eventName, text);
        const masked = channel.masker.push(event.delta);
        if (masked === event.delta) return null;
        event.delta = masked;
        return { before: '', value: event };
      }
      case 'response.output_text.done':
      case 'response.function_call_arguments.done': {
        const key = type === 'response.output_text.done' ? textKey : argsKey;
        const channel = this.channels.get(key);
        const rest = channel === undefined ? '' : this.close(key, channel);
        const before = rest === '' ? '' : this.eventText(channel!.eventName, channel!.flushEvent(rest));
        // The done event repeats the whole text: mask it as a whole.
        const field = type === 'response.output_text.done' ? 'text' : 'arguments';
        const full = event[field];
        let changed = false;
        if (typeof full === 'string') {
          const masked = this.profile.maskText(full);
          if (masked.findings.length > 0) {
            event[field] = masked.text;
            changed = true;
          }
        }
        return changed || before !== '' ? { before, value: event } : null;
      }
      default: {
        // Other response.* events (content_part.done, output_item.done, completed …) carry finished
        // output in their own shapes: mask every string in them.
        const before = RESPONSE_END.has(type) ? this.flushAll() : '';
        const masked = this.profile.maskJson(event);
        if (masked.findings.length === 0 && before === '') return null;
        this.closedFindings.push(...masked.findings);
        return { before, value: masked.value };
      }
    }
  }

  private responsesChannel(key: string, event: Json, eventName: string | null, text: boolean): Channel {
    let channel = this.channels.get(key);
    if (channel === undefined) {
      const ids: Json = { type: event.type, item_id: event.item_id, output_index: event.output_index };
      if (text) ids.content_index = event.content_index;
      channel = {
        masker: this.profile.createTextStream(),
        path: `${String(event.type)}[${String(event.item_id)}]`,
        choice: null,
        eventName,
        flushEvent: (delta) => ({ ...ids, delta }),
      };
      this.channels.set(key, channel);
    }
    return channel;
  }

  /** Ends a channel's masker and returns the text it still held. */
  private close(key: string, channel: Channel): string {
    const rest = channel.masker.end();
    for (const f of channel.masker.findings) this.closedFindings.push({ ...f, path: channel.path });
    this.channels.delete(key);
    return rest;
  }

  private flushAll(): string {
    let out = '';
    for (const [key, channel] of this.channels) {
      const rest = this.close(key, channel);
      if (rest !== '') out += this.eventText(channel.eventName, channel.flushEvent(rest));
    }
    return out;
  }

  private eventText(eventName: string | null, value: Json): string {
    const name = eventName === null ? '' : `event: ${eventName}${this.eol}`;
    return `${name}data: ${JSON.stringify(value)}${this.eol}${this.eol}`;
  }
}

export function createOpenAiSseMasker(profile: MaskProfile, options: OpenAiSseMaskerOptions = {}): OpenAiSseMasker {
  return new SseMasker(profile, options);
}
