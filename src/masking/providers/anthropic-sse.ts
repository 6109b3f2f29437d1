/**
 * Masks Anthropic's Messages event stream as it flows. Every event is one of the types the API
 * documents; each content block's text, tool input JSON and thinking go through a text masker of
 * their own, which holds back what may still be the start of a secret until the block's
 * `content_block_stop` (held text goes out as one more `content_block_delta` before it). Any
 * other event type, a delta type it does not know, or data that is not JSON ends the stream with
 * Anthropic's own `error` event: under a profile nothing unrecognised reaches the client.
 */
import { GatewayError, MaskingError } from '../../errors.ts';
import { ChannelKind } from '../stream-events.ts';
import { StreamTranscript } from '../stream-transcript.ts';
import type { MaskProfile, TextStreamMasker } from '../types.ts';
import { Channels, isObject, parseEventJson, type Json } from './common.ts';
import { SseProviderMasker } from './sse-provider-masker.ts';

interface Block {
  readonly masker: TextStreamMasker;
  readonly index: number;
  readonly prop: string;
  readonly deltaType: string;
}

/** Delta types whose one string continues across events, and that string's field. */
const TEXT_DELTAS: Readonly<Record<string, string>> = { text_delta: 'text', input_json_delta: 'partial_json', thinking_delta: 'thinking' };
/** Delta types complete in one event (a signature, a citation): masked as JSON. */
const WHOLE_DELTAS: ReadonlySet<string> = new Set(['signature_delta', 'citations_delta']);
const PASSED: ReadonlySet<string> = new Set(['ping', 'message_start', 'message_delta', 'error']);

/** Anthropic's stream error event, which its SDKs raise as an APIError. */
export function anthropicErrorEvent(error: Error, eol = '\n'): string {
  const message = error instanceof GatewayError ? error.message : 'response masking failed; the stream was ended';
  const body = JSON.stringify({ type: 'error', error: { type: 'api_error', message }, gatehouse: { code: error instanceof GatewayError ? error.code : 'masking_failed' } });
  return `${eol}event: error${eol}data: ${body}${eol}${eol}`;
}

export class AnthropicSseMasker extends SseProviderMasker {
  private readonly channels: Channels<Block>;
  private readonly record: StreamTranscript;

  constructor(profile: MaskProfile, maxEventChars: number, transcriptBytes: number) {
    super(maxEventChars);
    this.channels = new Channels(profile);
    this.record = new StreamTranscript(transcriptBytes);
  }

  protected finish(): void {
    this.closeBlocks();
  }

  protected errorEvent(error: Error, eol: string): string {
    return anthropicErrorEvent(error, eol);
  }

  transcript(): string {
    return this.record.toString();
  }

  onEvent(name: string | null, data: string | null): void {
    // An event without data dispatches nothing in a client: nothing is sent for it.
    if (data === null || data === '') return;
    const event = parseEventJson(data, 'an event');
    const type = event.type;
    if (typeof type !== 'string') throw new MaskingError('the upstream sent an event without a type; under a masking profile it cannot be placed, so the stream was ended');
    if (name !== null && name !== type) throw new MaskingError('the upstream sent an event whose name and data type disagree; the stream was ended');
    if (type === 'content_block_delta') return this.delta(event);
    if (type === 'content_block_start') return this.blockStart(event);
    if (type === 'content_block_stop') {
      this.closeBlocks(indexOf(event));
      return this.emit(type, this.channels.maskJson(event));
    }
    if (type === 'message_stop' || type === 'message_delta') this.closeBlocks();
    if (!PASSED.has(type) && type !== 'message_stop') {
      // The type is not quoted: under a profile, nothing the upstream chose reaches the client unscanned.
      throw new MaskingError('the upstream sent an event of a type the gateway does not know; under a masking profile it cannot be checked, so the stream was ended');
    }
    const masked = this.channels.maskJson(event);
    if (type === 'error') this.record.note(`[error] ${JSON.stringify(masked)}`);
    this.emit(type, masked);
  }

  private blockStart(event: Json): void {
    const index = indexOf(event);
    const block = event.content_block;
    if (!isObject(block)) throw new MaskingError('the upstream sent a content_block_start without a block; the stream was ended');
    // A block may start with text of its own: it is the start of the same channel as its deltas.
    const prop = block.type === 'text' ? 'text' : block.type === 'thinking' ? 'thinking' : null;
    if (prop === null || typeof block[prop] !== 'string' || block[prop] === '') return this.emit('content_block_start', this.channels.maskJson(event));
    const raw = block[prop] as string;
    const channel = this.channel(index, prop, prop === 'text' ? 'text_delta' : 'thinking_delta');
    const masked = this.channels.maskJson({ ...event, content_block: { ...block, [prop]: '' } });
    const text = channel.masker.push(raw);
    (masked.content_block as Json)[prop] = text;
    this.record.add(`b|${index}|${prop}`, ChannelKind.BlockDelta, 0, { type: channel.deltaType }, prop, text);
    this.emit('content_block_start', masked);
  }

  private delta(event: Json): void {
    const index = indexOf(event);
    const delta = event.delta;
    if (!isObject(delta) || typeof delta.type !== 'string') throw new MaskingError('the upstream sent a content_block_delta without a typed delta; the stream was ended');
    const prop = TEXT_DELTAS[delta.type];
    if (prop === undefined) {
      if (!WHOLE_DELTAS.has(delta.type)) {
        throw new MaskingError('the upstream sent a content_block_delta of a type the gateway does not know; under a masking profile it cannot be checked, so the stream was ended');
      }
      return this.emit('content_block_delta', this.channels.maskJson(event));
    }
    const raw = delta[prop];
    if (typeof raw !== 'string') throw new MaskingError(`the upstream sent a content_block_delta without its ${prop}; the stream was ended`);
    const channel = this.channel(index, prop, delta.type);
    const masked = this.channels.maskJson({ ...event, delta: { ...delta, [prop]: '' } });
    const text = raw === '' ? '' : channel.masker.push(raw);
    (masked.delta as Json)[prop] = text;
    this.record.add(`b|${index}|${prop}`, ChannelKind.BlockDelta, 0, masked.delta as Json, prop, text);
    this.emit('content_block_delta', masked);
  }

  private channel(index: number, prop: string, deltaType: string): Block {
    return this.channels.get(`b|${index}|${prop}`, (masker) => ({ masker, index, prop, deltaType }));
  }

  /** Sends what the blocks (one, or all) still hold, as deltas, before whatever closes them. */
  private closeBlocks(index?: number): void {
    this.channels.close(
      (block, rest) => {
        const delta: Json = { type: block.deltaType, [block.prop]: rest };
        this.record.add(`b|${block.index}|${block.prop}`, ChannelKind.BlockDelta, 0, delta, block.prop, rest);
        this.emit('content_block_delta', { type: 'content_block_delta', index: block.index, delta });
      },
      index === undefined ? undefined : (block) => block.index === index,
    );
  }

  private emit(type: string, event: Json): void {
    const eol = this.parser.eol;
    this.out += `event: ${type}${eol}data: ${JSON.stringify(event)}${eol}${eol}`;
  }
}

function indexOf(event: Json): number {
  const index = event.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 10_000) {
    throw new MaskingError('the upstream sent a content block event without a valid index; the stream was ended');
  }
  return index;
}
