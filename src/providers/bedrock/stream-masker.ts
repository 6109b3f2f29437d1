/**
 * The response masker for Bedrock's binary event streams (ConverseStream and
 * InvokeModelWithResponseStream). Under a masking profile every message is decoded, checked
 * (known message and event types, JSON payloads, CRCs), masked and encoded again with fresh
 * CRCs; text that continues across events (a block's text, a tool's input JSON, reasoning) goes
 * through one streaming masker per block, which holds back what may still be the start of a
 * value, so a secret split across two events never reaches the client. Held text goes out as an
 * extra delta event before its block stops. Anything the gateway cannot place fails the stream
 * with an exception event the client's SDK raises. Without a profile the bytes pass untouched
 * and are read on the side for the transcript and the token usage.
 */
import { MaskingError } from '../../errors.ts';
// Not masking/index.ts: masking/response-maskers.ts picks this masker, and must not be imported back.
import type { MaskProfile, TextStreamMasker } from '../../masking/types.ts';
import { StreamTranscript } from '../../masking/stream-transcript.ts';
import { encodeEvent, EventStreamDecoder, EventStreamFormatError, type EventHeaders, type EventMessage, exceptionEvent, jsonEventHeaders, stringHeader } from './eventstream.ts';
import { ChunkEvents } from './stream-chunks.ts';
import { ConverseEvents } from './stream-converse.ts';
import { isObject, type ChannelSpec, type Json, type StreamContext, unknownShape } from './stream-fields.ts';
import { mergeUsage, type TokenUsage } from './usage.ts';

export interface BedrockStreamOptions {
  readonly profile: MaskProfile | null;
  readonly transcriptBytes: number;
  readonly maxMessageBytes?: number;
}

interface Channel {
  readonly spec: ChannelSpec;
  readonly masker: TextStreamMasker | null;
}

// More open blocks than any answer has: an upstream cannot make the gateway hold unbounded state.
const MAX_CHANNELS = 1024;
const EXCEPTION_TYPE = /^[A-Za-z]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const EMPTY = Buffer.alloc(0);

/**
 * Which of the two streams it is (ConverseStream's events, or InvokeModelWithResponseStream's
 * `chunk` events) is read from the first event; a stream that mixes them fails under a profile.
 * The shape of masking/response-maskers.ts's StreamResponseMasker, which picks it.
 */
export class BedrockStreamMasker implements StreamContext {
  readonly mode = 'stream';
  readonly decodes = false;
  private readonly decoder: EventStreamDecoder;
  private readonly record: StreamTranscript;
  private readonly channels = new Map<string, Channel>();
  private converse: ConverseEvents | null = null;
  private chunks: ChunkEvents | null = null;
  private readonly profile: MaskProfile | null;
  private out: Buffer[] = [];
  /** Without a profile: still reading on the side (false once the stream could not be read). */
  private observing = true;
  private done = false;
  private tokens: TokenUsage | null = null;

  constructor(options: BedrockStreamOptions) {
    this.profile = options.profile;
    this.decoder = new EventStreamDecoder(options.maxMessageBytes);
    this.record = new StreamTranscript(options.transcriptBytes);
  }

  /** The token usage the stream reported (metadata event, invocation metrics), once seen. */
  get usage(): TokenUsage | null {
    return this.tokens;
  }

  push(chunk: Buffer): Buffer {
    if (this.done) throw new MaskingError('event-stream masker used after end() or a failure');
    if (this.profile === null) {
      this.observe(() => {
        for (const message of this.decoder.push(chunk)) this.message(message);
      });
      return chunk;
    }
    try {
      for (const message of this.decoder.push(chunk)) this.message(message);
      return this.take();
    } catch (err) {
      throw this.fail(err);
    }
  }

  end(): Buffer {
    if (this.done) throw new MaskingError('event-stream masker used after end() or a failure');
    if (this.profile === null) {
      this.observe(() => this.decoder.end());
      this.done = true;
      return EMPTY;
    }
    try {
      this.decoder.end();
      this.flush(null);
      this.done = true;
      return this.take();
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** An exception event: the client's SDK raises it as an InternalServerException with this message. */
  failure(error: Error): Buffer {
    this.done = true;
    this.out = [];
    const message = error instanceof MaskingError ? error.message : 'response masking failed; the stream was ended';
    return exceptionEvent('internalServerException', `Gatehouse: ${message}`);
  }

  transcript(): string {
    return this.record.toString();
  }

  // StreamContext

  maskJson(value: unknown): unknown {
    return this.profile === null ? value : this.profile.maskJson(value).value;
  }

  channel(spec: ChannelSpec, raw: string): string {
    let channel = this.channels.get(spec.key);
    if (channel === undefined) {
      if (this.channels.size >= MAX_CHANNELS) throw new MaskingError(`the upstream opened more than ${MAX_CHANNELS} content blocks at once; the stream was ended`);
      channel = { spec, masker: this.profile === null ? null : this.profile.createTextStream() };
      this.channels.set(spec.key, channel);
    }
    const out = channel.masker === null ? raw : channel.masker.push(raw);
    this.record.add(spec.key, spec.kind, 0, spec.holder, spec.prop, out);
    return out;
  }

  flush(block: number | null): void {
    for (const [key, channel] of this.channels) {
      if (block !== null && channel.spec.block !== block) continue;
      this.channels.delete(key);
      const rest = channel.masker === null ? '' : channel.masker.end();
      if (rest === '') continue;
      this.record.add(key, channel.spec.kind, 0, channel.spec.holder, channel.spec.prop, rest);
      const payload = channel.spec.flushPayload(rest);
      if (this.converse !== null) this.emit(jsonEventHeaders('contentBlockDelta'), payload);
      else this.emit(jsonEventHeaders('chunk'), { bytes: Buffer.from(JSON.stringify(payload)).toString('base64') });
    }
  }

  finish(spec: ChannelSpec): string {
    const channel = this.channels.get(spec.key);
    if (channel === undefined) return '';
    this.channels.delete(spec.key);
    const rest = channel.masker === null ? '' : channel.masker.end();
    if (rest !== '') this.record.add(spec.key, spec.kind, 0, spec.holder, spec.prop, rest);
    return rest;
  }

  noteUsage(usage: TokenUsage | null): void {
    this.tokens = mergeUsage(this.tokens, usage);
  }

  // The stream

  private message(message: EventMessage): void {
    const headers = message.headers;
    const messageType = stringHeader(headers, ':message-type');
    if (messageType === 'event') return this.event(headers, message.body);
    if (messageType === 'exception') return this.exception(headers, message.body);
    if (messageType === 'error') return this.error(headers);
    throw unknownShape('a message of a type');
  }

  private event(headers: EventHeaders, body: Uint8Array): void {
    const eventType = stringHeader(headers, ':event-type');
    if (eventType === null) throw unknownShape('an event without an event type');
    const payload = jsonPayload(headers, body, 'an event');
    if (this.converse === null && this.chunks === null) {
      if (eventType === 'chunk') this.chunks = new ChunkEvents(this);
      else this.converse = new ConverseEvents(this, (_type, event) => event);
    }
    if (this.converse !== null) {
      this.emit(jsonEventHeaders(eventType), this.converse.event(eventType, payload));
      return;
    }
    if (eventType !== 'chunk') throw unknownShape('an event of a type');
    const { bytes, ...rest } = payload;
    if (typeof bytes !== 'string' || !BASE64.test(bytes)) throw unknownShape('a chunk without base64 bytes');
    let inner: unknown;
    try {
      inner = JSON.parse(utf8.decode(Buffer.from(bytes, 'base64')));
    } catch {
      throw new MaskingError('the upstream sent a model chunk that is not UTF-8 JSON; under a masking profile it cannot be checked, so the stream was ended');
    }
    if (!isObject(inner)) throw unknownShape('a model chunk that is not a JSON object');
    const masked = this.chunks!.chunk(inner);
    if (this.profile !== null) this.emit(jsonEventHeaders('chunk'), { ...(this.maskJson(rest) as Json), bytes: Buffer.from(JSON.stringify(masked)).toString('base64') });
  }

  private exception(headers: EventHeaders, body: Uint8Array): void {
    const exceptionType = stringHeader(headers, ':exception-type');
    if (exceptionType === null || !EXCEPTION_TYPE.test(exceptionType)) throw unknownShape('an exception without a plain exception type');
    const masked = this.maskJson(jsonPayload(headers, body, 'an exception')) as Json;
    this.record.note(`[error] ${exceptionType}: ${typeof masked.message === 'string' ? masked.message : JSON.stringify(masked)}`);
    this.emit(
      {
        ':exception-type': { type: 'string', value: exceptionType },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: 'exception' },
      },
      masked,
    );
  }

  /** A framing-level error (`:error-code`, `:error-message`), no payload. */
  private error(headers: EventHeaders): void {
    const code = stringHeader(headers, ':error-code') ?? 'InternalError';
    const text = stringHeader(headers, ':error-message') ?? '';
    const mask = (value: string) => (this.profile === null ? value : this.profile.maskText(value).text);
    this.record.note(`[error] ${mask(code)}: ${mask(text)}`);
    if (this.profile === null) return;
    const out: EventHeaders = {
      ':message-type': { type: 'string', value: 'error' },
      ':error-code': { type: 'string', value: mask(code) },
      ':error-message': { type: 'string', value: mask(text) },
    };
    this.out.push(encodeEvent(out, new Uint8Array(0)));
  }

  private emit(headers: EventHeaders, payload: unknown): void {
    if (this.profile === null) return;
    this.out.push(encodeEvent(headers, Buffer.from(JSON.stringify(payload))));
  }

  private take(): Buffer {
    const out = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    return out;
  }

  private fail(err: unknown): MaskingError {
    this.done = true;
    this.out = [];
    if (err instanceof MaskingError) return err;
    if (err instanceof EventStreamFormatError) return new MaskingError(`${err.message}; under a masking profile the stream was ended`, { cause: err });
    return new MaskingError('event-stream masking failed; the stream was ended', { cause: err });
  }

  /** Without a profile: reading on the side never stops the bytes, it only stops itself. */
  private observe(read: () => void): void {
    if (!this.observing) return;
    try {
      read();
    } catch (err) {
      this.observing = false;
      this.record.note(`[event stream not readable: ${err instanceof Error ? err.message : 'unknown'}]`);
    }
  }
}

function jsonPayload(headers: EventHeaders, body: Uint8Array, what: string): Json {
  const contentType = stringHeader(headers, ':content-type');
  if (contentType !== null && contentType !== 'application/json') throw unknownShape(`${what} of a content type`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch {
    throw new MaskingError(`the upstream sent ${what} with a payload that is not UTF-8 JSON; under a masking profile it cannot be checked, so the stream was ended`);
  }
  if (!isObject(value)) throw unknownShape(`${what} whose payload is not a JSON object`);
  return value;
}
