import { GatewayError, MaskingError } from '../errors.ts';
import { SseParser, type SseSink } from './sse-parser.ts';
import { ChannelKind, endsStream, isErrorEvent, isObject, type Json, type StreamFieldVisitor, visitStreamFields } from './stream-events.ts';
import { StreamTranscript } from './stream-transcript.ts';
import type { Finding, MaskProfile, TextStreamMasker } from './types.ts';

export interface OpenAiSseMaskerOptions {
  /** Largest single event accepted; a longer one fails the stream (MaskingError). Default 8 MiB. */
  readonly maxEventBytes?: number;
  /** Bytes of masked text the transcript keeps. Default 1 MiB. */
  readonly transcriptBytes?: number;
}

export interface OpenAiSseMasker {
  /** Raw `text/event-stream` bytes in; masked SSE text to send on out. */
  push(chunk: Buffer | string): string;
  /** Whatever is still held, with flush events; the masker must not be used afterwards. */
  end(): string;
  /** After a MaskingError: an SSE error event (OpenAI's error shape) that ends the stream cleanly. */
  failure(error: Error): string;
  /** The masked answer as a reader would reassemble it. */
  transcript(): string;
  /** Findings so far; `path` names the channel (`c0.content`) or event field, offsets are within it. */
  readonly findings: readonly Finding[];
}

/** One masked text stream inside the event stream, and what its flush event looks like. */
interface Channel {
  readonly key: string;
  readonly masker: TextStreamMasker;
  readonly kind: ChannelKind;
  readonly choice: number;
  readonly sub: number;
  readonly prop: string;
  /** The `event:` name (masked) of the events that carried it. */
  readonly eventName: string | null;
  /** Its last event as sent (masked): a flush event copies its id, model, item … */
  template: Json | null;
}

const NAME_MEMO = 256;
const DONE = '[DONE]';
// Fields a flush event must not copy from a template: they describe the event they came with.
const TEMPLATE_SKIP: ReadonlySet<string> = new Set(['choices', 'candidates', 'usage', 'usageMetadata', 'obfuscation', 'logprobs', 'delta']);

/** Replaces token-level detail, which repeats the text token by token where no channel can see it whole. */
function dropLogprobs(value: unknown, depth = 0): void {
  if (depth > 64 || typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (const v of value) dropLogprobs(v, depth + 1);
    return;
  }
  const obj = value as Json;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if ((k === 'logprobs' || k === 'top_logprobs') && v !== null) obj[k] = Array.isArray(v) ? [] : null;
    else if (typeof v === 'object' && v !== null) dropLogprobs(v, depth + 1);
  }
}

function copyTemplate(template: Json | null): Json {
  const out: Json = {};
  if (template === null) return out;
  for (const k of Object.keys(template)) if (!TEMPLATE_SKIP.has(k)) out[k] = template[k];
  return out;
}

/** An SSE `error` event in OpenAI's error shape, which OpenAI SDKs raise as an APIError. */
export function sseErrorEvent(error: Error, eol = '\n'): string {
  const message = error instanceof GatewayError ? error.message : 'response masking failed; the stream was ended';
  const code = error instanceof GatewayError ? error.code : 'masking_failed';
  const body = JSON.stringify({ error: { message, type: 'api_error', param: null, code } });
  // The leading line break ends a line the client may hold, so the event starts on a line of its own.
  return `${eol}event: error${eol}data: ${body}${eol}${eol}`;
}

/**
 * Masks an OpenAI-compatible event stream as it flows. Every event is parsed as the SSE spec
 * says; every string of every JSON event (and every `event:`/`id:` value) is masked; each
 * channel (see stream-events.ts) goes through its own streaming masker, which holds back what
 * may still be the start of a value until the stream ends (`[DONE]`, `response.completed`,
 * `message_stop` or end()), whatever finish_reason says. Held text goes out as extra delta
 * events. Data that is not JSON cannot be checked across events, so it fails the stream.
 */
class SseMasker implements OpenAiSseMasker, SseSink, StreamFieldVisitor {
  private readonly parser: SseParser;
  private readonly channels = new Map<string, Channel>();
  private readonly names = new Map<string, string>();
  private readonly closedFindings: Finding[] = [];
  private readonly record: StreamTranscript;
  private out = '';
  private failed = false;
  /** Channel strings of the event at hand: where they sit, and their masked text. */
  private readonly holders: Json[] = [];
  private readonly props: string[] = [];
  private readonly outs: string[] = [];
  private readonly used: Channel[] = [];
  private writeBack = -1;
  private eventName: string | null = null;

  constructor(
    private readonly profile: MaskProfile,
    options: OpenAiSseMaskerOptions,
  ) {
    this.parser = new SseParser(this, options.maxEventBytes ?? 8 * 1024 * 1024);
    this.record = new StreamTranscript(options.transcriptBytes ?? 1024 * 1024);
  }

  get findings(): readonly Finding[] {
    const open: Finding[] = [];
    for (const c of this.channels.values()) for (const f of c.masker.findings) open.push({ ...f, path: c.key });
    return [...this.closedFindings, ...open];
  }

  push(chunk: Buffer | string): string {
    if (this.failed) throw new MaskingError('SSE masker used after end() or a failure');
    try {
      this.parser.push(chunk);
      return this.take();
    } catch (err) {
      throw this.fail(err);
    }
  }

  end(): string {
    if (this.failed) throw new MaskingError('SSE masker used after end() or a failure');
    try {
      this.parser.end();
      this.flushAll();
      this.failed = true; // no use after end
      return this.take();
    } catch (err) {
      throw this.fail(err);
    }
  }

  failure(error: Error): string {
    this.failed = true;
    this.out = '';
    return sseErrorEvent(error, this.parser.eol);
  }

  transcript(): string {
    return this.record.toString();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private fail(err: unknown): MaskingError {
    this.failed = true;
    this.out = '';
    return err instanceof MaskingError ? err : new MaskingError('SSE masking failed; the stream was ended', { cause: err });
  }

  onComment(): void {
    // Comments keep idle connections open; their text is no one's business, so only the colon goes on.
    this.out += `:${this.parser.eol}`;
  }

  onEvent(type: string | null, data: string | null, id: string | null, retry: string | null): void {
    this.eventName = type === null ? null : this.maskName(type);
    if (data === null || data === '') {
      this.emit(data, id, retry);
      return;
    }
    if (data.trim() === DONE) {
      this.flushAll();
      this.emit(DONE, id, retry);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      throw new MaskingError('the upstream sent an event whose data is not JSON; under a masking profile it cannot be checked, so the stream was ended');
    }
    if (!isObject(value)) {
      this.emit(JSON.stringify(this.maskJson(value)), id, retry);
      return;
    }
    this.holders.length = this.props.length = this.outs.length = this.used.length = 0;
    this.writeBack = -1;
    visitStreamFields(value, this);
    if (data.includes('"logprobs"') || data.includes('"top_logprobs"')) dropLogprobs(value);
    if (endsStream(value)) this.flushAll();
    const masked = this.maskJson(value) as Json;
    if (this.holders.length > 0) this.restore(value, masked);
    for (const c of this.used) c.template = masked;
    if (isErrorEvent(type, value)) this.record.note(`[error] ${JSON.stringify(masked)}`);
    this.emit(JSON.stringify(masked), id, retry);
  }

  /** Puts the channels' masked text back where the raw text was. */
  private restore(parsed: Json, masked: Json): void {
    if (masked === parsed) {
      for (let i = 0; i < this.holders.length; i++) this.place(this.holders[i]!, i);
      return;
    }
    // The JSON masker copied part of the event: find the same fields in its copy.
    this.writeBack = 0;
    visitStreamFields(masked, this);
    const found = this.writeBack;
    this.writeBack = -1;
    if (found !== this.holders.length) throw new MaskingError('an event changed shape while it was masked; the stream was ended');
  }

  private place(holder: Json, i: number): void {
    const c = this.used[i]!;
    holder[this.props[i]!] = this.outs[i]!;
    this.record.add(c.key, c.kind, c.choice, holder, c.prop, this.outs[i]!);
  }

  field(holder: Json, prop: string, key: string, kind: ChannelKind, choice: number, sub: number): void {
    if (this.writeBack >= 0) {
      if (this.writeBack < this.holders.length) this.place(holder, this.writeBack);
      this.writeBack++;
      return;
    }
    let channel = this.channels.get(key);
    if (channel === undefined) {
      channel = { key, masker: this.profile.createTextStream(), kind, choice, sub, prop, eventName: this.eventName, template: null };
      this.channels.set(key, channel);
    }
    const raw = holder[prop] as string;
    this.holders.push(holder);
    this.props.push(prop);
    this.outs.push(raw.length === 0 ? '' : channel.masker.push(raw));
    this.used.push(channel);
    // Blank in the event, so the JSON masker neither scans the raw text nor masks it twice.
    holder[prop] = '';
  }

  private maskJson(value: unknown): unknown {
    const result = this.profile.maskJson(value);
    if (result.findings.length > 0) for (const f of result.findings) this.closedFindings.push(f);
    return result.value;
  }

  /** Event names and ids repeat on every event: each distinct one is masked once. */
  private maskName(value: string): string {
    let masked = this.names.get(value);
    if (masked === undefined) {
      const result = this.profile.maskText(value);
      for (const f of result.findings) this.closedFindings.push(f);
      masked = result.text;
      if (this.names.size < NAME_MEMO) this.names.set(value, masked);
    }
    return masked;
  }

  private emit(data: string | null, id: string | null, retry: string | null): void {
    const eol = this.parser.eol;
    let block = '';
    if (this.eventName !== null && data !== null) block += `event: ${this.eventName}${eol}`;
    if (id !== null) block += `id: ${this.maskName(id)}${eol}`;
    if (retry !== null && this.maskName(retry) === retry) block += `retry: ${retry}${eol}`;
    if (data !== null) block += data === '' ? `data${eol}` : `data: ${data}${eol}`;
    if (block !== '') this.out += block + eol;
  }

  private flushAll(): void {
    for (const c of this.channels.values()) {
      const rest = c.masker.end();
      for (const f of c.masker.findings) this.closedFindings.push({ ...f, path: c.key });
      if (rest === '') continue;
      const event = this.flushEvent(c, rest);
      this.record.add(c.key, c.kind, c.choice, event.holder, c.prop, rest);
      const eol = this.parser.eol;
      const name = c.eventName === null ? '' : `event: ${c.eventName}${eol}`;
      this.out += `${name}data: ${JSON.stringify(event.root)}${eol}${eol}`;
    }
    this.channels.clear();
  }

  /** An event carrying `rest` as the next piece of the channel's text. */
  private flushEvent(c: Channel, rest: string): { root: Json; holder: Json } {
    if (c.kind === ChannelKind.EventDelta) {
      const root = copyTemplate(c.template);
      root.delta = rest;
      return { root, holder: root };
    }
    if (c.kind === ChannelKind.BlockDelta) {
      const root = copyTemplate(c.template);
      const old = c.template !== null && isObject(c.template.delta) ? c.template.delta : {};
      const delta: Json = { type: old.type, [c.prop]: rest };
      root.delta = delta;
      return { root, holder: delta };
    }
    const root = copyTemplate(c.template);
    if (c.kind === ChannelKind.PartText) {
      const part: Json = c.sub === 1 ? { text: rest, thought: true } : { text: rest };
      root.candidates = [{ content: { parts: [part], role: 'model' }, index: c.choice }];
      return { root, holder: part };
    }
    if (c.kind === ChannelKind.CompletionText) {
      const choice: Json = { text: rest, index: c.choice, logprobs: null, finish_reason: null };
      root.choices = [choice];
      return { root, holder: choice };
    }
    let holder: Json;
    let delta: Json;
    if (c.kind === ChannelKind.ChatDelta) {
      holder = delta = { [c.prop]: rest };
    } else if (c.kind === ChannelKind.ChatAudio) {
      holder = { transcript: rest };
      delta = { audio: holder };
    } else if (c.kind === ChannelKind.ChatFunction) {
      holder = { arguments: rest };
      delta = { function_call: holder };
    } else {
      holder = { arguments: rest };
      delta = { tool_calls: [{ index: c.sub, function: holder }] };
    }
    root.choices = [{ index: c.choice, delta, finish_reason: null }];
    return { root, holder };
  }
}

export function createOpenAiSseMasker(profile: MaskProfile, options: OpenAiSseMaskerOptions = {}): OpenAiSseMasker {
  return new SseMasker(profile, options);
}
