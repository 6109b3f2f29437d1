/**
 * ConverseStream's events (and Amazon Nova's native chunks, which carry the same events one
 * level down): `messageStart`, `contentBlockStart` (a tool's name), `contentBlockDelta` (text,
 * a tool's input JSON, reasoning text, citations), `contentBlockStop`, `messageStop`, `metadata`
 * (usage). Text, tool input and reasoning text are channels; the rest is masked in place.
 */
import { ChannelKind } from '../../masking/stream-events.ts';
import { blockIndex, isObject, type ChannelSpec, type Json, restore, type Spot, type StreamContext, take, unknownShape } from './stream-fields.ts';
import { converseUsage } from './usage.ts';

export const CONVERSE_EVENTS: ReadonlySet<string> = new Set(['messageStart', 'contentBlockStart', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);

/** Reads one stream's events; `wrap` puts a flush event into the stream's own envelope. */
export class ConverseEvents {
  private readonly specs = new Map<string, ChannelSpec>();
  private readonly tools = new Map<number, Json>();

  constructor(
    private readonly ctx: StreamContext,
    private readonly wrap: (eventType: string, payload: Json) => Json,
    /** Key prefix, so two envelopes in one stream never share a channel. */
    private readonly prefix = '',
  ) {}

  /** The masked payload to send for one event (flush events for ended blocks go out before it). */
  event(eventType: string, payload: Json): unknown {
    switch (eventType) {
      case 'contentBlockStart': {
        const index = blockIndex(payload.contentBlockIndex);
        const start = payload.start;
        if (isObject(start) && isObject(start.toolUse) && typeof start.toolUse.name === 'string') this.tools.set(index, { name: start.toolUse.name });
        return this.ctx.maskJson(payload);
      }
      case 'contentBlockDelta':
        return this.delta(payload);
      case 'contentBlockStop':
        this.ctx.flush(blockIndex(payload.contentBlockIndex));
        return this.ctx.maskJson(payload);
      case 'messageStop':
        this.ctx.flush(null);
        return this.ctx.maskJson(payload);
      case 'metadata':
        this.ctx.noteUsage(converseUsage(payload));
        return this.ctx.maskJson(payload);
      case 'messageStart':
        return this.ctx.maskJson(payload);
      default:
        throw unknownShape('an event of a type');
    }
  }

  private delta(payload: Json): unknown {
    const index = blockIndex(payload.contentBlockIndex);
    const delta = payload.delta;
    if (!isObject(delta)) throw unknownShape('a contentBlockDelta without a delta');
    const spots: Spot[] = [];
    for (const key of Object.keys(delta)) {
      const value = delta[key];
      if (key === 'text' && typeof value === 'string') {
        spots.push(take(this.ctx, payload, ['delta', 'text'], this.spec(index, 'text', ChannelKind.BlockDelta, 'text', (rest) => ({ text: rest }))));
      } else if (key === 'toolUse' && isObject(value) && typeof value.input === 'string') {
        spots.push(take(this.ctx, payload, ['delta', 'toolUse', 'input'], this.spec(index, 'tool', ChannelKind.ChatTool, 'arguments', (rest) => ({ toolUse: { input: rest } }))));
      } else if (key === 'reasoningContent' && isObject(value)) {
        if (typeof value.text === 'string') {
          spots.push(take(this.ctx, payload, ['delta', 'reasoningContent', 'text'], this.spec(index, 'reasoning', ChannelKind.BlockDelta, 'thinking', (rest) => ({ reasoningContent: { text: rest } }))));
        }
        // signature and redactedContent are opaque: masked in place like any string.
      } else if (key !== 'citation') {
        throw unknownShape('a content delta of a kind');
      }
    }
    const masked = this.ctx.maskJson(payload);
    restore(masked, spots);
    return masked;
  }

  private spec(block: number, field: string, kind: ChannelKind, prop: string, delta: (rest: string) => Json): ChannelSpec {
    const key = `${this.prefix}${block}|${field}`;
    let spec = this.specs.get(key);
    if (spec === undefined) {
      spec = {
        key,
        block,
        kind,
        prop,
        holder: kind === ChannelKind.ChatTool ? (this.tools.get(block) ?? {}) : { type: prop },
        flushPayload: (rest) => this.wrap('contentBlockDelta', { contentBlockIndex: block, delta: delta(rest) }),
      };
      this.specs.set(key, spec);
    }
    return spec;
  }
}
