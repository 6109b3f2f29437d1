/**
 * InvokeModelWithResponseStream: each `chunk` event carries `{"bytes": <base64>}`, the model's
 * own streaming JSON. Families understood, with text held back across chunks:
 * - Anthropic Messages events (`content_block_delta` text, tool input JSON, thinking);
 * - Amazon Nova (the ConverseStream events, one level down: `{"contentBlockDelta": …}`);
 * - Amazon Titan Text (`outputText`), Meta Llama (`generation`), Mistral (`outputs[].text`),
 *   whose last chunk (one with a stop reason) carries the held text itself.
 * Under a masking profile any other chunk fails the stream: its text could continue in the next
 * chunk, where masking each chunk alone would let a split secret through.
 */
import { ChannelKind } from '../../masking/stream-events.ts';
import { ConverseEvents, CONVERSE_EVENTS } from './stream-converse.ts';
import { blockIndex, isObject, type ChannelSpec, type Json, restore, type Spot, type StreamContext, take, takeLast, unknownShape } from './stream-fields.ts';
import { invocationMetrics, nativeUsage, type TokenUsage } from './usage.ts';

const ANTHROPIC_EVENTS: ReadonlySet<string> = new Set([
  'message_start',
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
  'ping',
  'error',
]);
/** Anthropic delta types and the field of each that continues a text; null: masked in place. */
const ANTHROPIC_DELTAS: ReadonlyMap<string, string | null> = new Map([
  ['text_delta', 'text'],
  ['input_json_delta', 'partial_json'],
  ['thinking_delta', 'thinking'],
  ['signature_delta', null],
  ['citations_delta', null],
]);

export class ChunkEvents {
  private readonly specs = new Map<string, ChannelSpec>();
  private readonly tools = new Map<number, Json>();
  private readonly nova: ConverseEvents;
  private anthropicInput: TokenUsage | null = null;

  constructor(private readonly ctx: StreamContext) {
    this.nova = new ConverseEvents(ctx, (eventType, payload) => ({ [eventType]: payload }), 'nova:');
  }

  /** The masked chunk to send for one model chunk. */
  chunk(inner: Json): unknown {
    this.ctx.noteUsage(invocationMetrics(inner));
    if (typeof inner.type === 'string') return this.anthropic(inner);
    const novaKey = Object.keys(inner).find((k) => CONVERSE_EVENTS.has(k));
    if (novaKey !== undefined && isObject(inner[novaKey])) {
      const { [novaKey]: payload, ...rest } = inner;
      const masked = this.nova.event(novaKey, payload as Json);
      return { ...(this.ctx.maskJson(rest) as Json), [novaKey]: masked };
    }
    if (typeof inner.outputText === 'string') return this.single(inner, ['outputText'], `titan|${String(inner.index ?? 0)}`, inner.completionReason, (rest) => ({ outputText: rest, index: inner.index ?? 0 }));
    if (typeof inner.generation === 'string') {
      this.ctx.noteUsage(nativeUsage(inner));
      return this.single(inner, ['generation'], 'llama', inner.stop_reason, (rest) => ({ generation: rest }));
    }
    if (Array.isArray(inner.outputs)) return this.mistral(inner);
    throw unknownShape('a model chunk of a family');
  }

  private anthropic(inner: Json): unknown {
    const type = inner.type as string;
    if (!ANTHROPIC_EVENTS.has(type)) throw unknownShape('a model chunk of a type');
    switch (type) {
      case 'message_start': {
        const usage = isObject(inner.message) ? nativeUsage(inner.message) : null;
        this.anthropicInput = usage;
        this.ctx.noteUsage(usage);
        break;
      }
      case 'content_block_start': {
        const block = inner.content_block;
        if (isObject(block) && block.type === 'tool_use' && typeof block.name === 'string') this.tools.set(blockIndex(inner.index), { name: block.name });
        break;
      }
      case 'content_block_delta':
        return this.anthropicDelta(inner);
      case 'content_block_stop':
        this.ctx.flush(blockIndex(inner.index));
        break;
      case 'message_delta': {
        // Its usage counts output; input came with message_start.
        const usage = nativeUsage(inner);
        if (usage !== null) this.ctx.noteUsage({ inputTokens: Math.max(usage.inputTokens, this.anthropicInput?.inputTokens ?? 0), outputTokens: usage.outputTokens });
        break;
      }
      case 'message_stop':
        this.ctx.flush(null);
        break;
    }
    return this.ctx.maskJson(inner);
  }

  private anthropicDelta(inner: Json): unknown {
    const index = blockIndex(inner.index);
    const delta = inner.delta;
    const type = isObject(delta) ? delta.type : undefined;
    if (!isObject(delta) || typeof type !== 'string' || !ANTHROPIC_DELTAS.has(type)) throw unknownShape('an Anthropic content delta of a kind');
    const prop = ANTHROPIC_DELTAS.get(type)!;
    const spots: Spot[] = [];
    if (prop !== null && typeof delta[prop] === 'string') {
      const kind = prop === 'partial_json' ? ChannelKind.ChatTool : ChannelKind.BlockDelta;
      const key = `a|${index}|${prop}`;
      let spec = this.specs.get(key);
      if (spec === undefined) {
        spec = {
          key,
          block: index,
          kind,
          prop: kind === ChannelKind.ChatTool ? 'arguments' : prop,
          holder: kind === ChannelKind.ChatTool ? (this.tools.get(index) ?? {}) : { type: prop },
          flushPayload: (rest) => ({ type: 'content_block_delta', index, delta: { type, [prop]: rest } }),
        };
        this.specs.set(key, spec);
      }
      spots.push(take(this.ctx, inner, ['delta', prop], spec));
    }
    const masked = this.ctx.maskJson(inner);
    restore(masked, spots);
    return masked;
  }

  /** A family with one text field; its chunk with a stop reason is its last. */
  private single(inner: Json, path: readonly string[], key: string, stop: unknown, flushPayload: (rest: string) => Json): unknown {
    let spec = this.specs.get(key);
    if (spec === undefined) {
      spec = { key, block: 0, kind: ChannelKind.BlockDelta, prop: 'text', holder: { type: 'text' }, flushPayload };
      this.specs.set(key, spec);
    }
    const last = stop !== undefined && stop !== null;
    const spot = last ? takeLast(this.ctx, inner, path, spec) : take(this.ctx, inner, path, spec);
    const masked = this.ctx.maskJson(inner);
    restore(masked, [spot]);
    return masked;
  }

  private mistral(inner: Json): unknown {
    const outputs = inner.outputs as unknown[];
    const spots: Spot[] = [];
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs[i];
      if (!isObject(output) || typeof output.text !== 'string') throw unknownShape('a Mistral output without text');
      const key = `mistral|${i}`;
      let spec = this.specs.get(key);
      if (spec === undefined) {
        spec = { key, block: i, kind: ChannelKind.BlockDelta, prop: 'text', holder: { type: 'text' }, flushPayload: (rest) => ({ outputs: [{ text: rest, stop_reason: null }] }) };
        this.specs.set(key, spec);
      }
      const last = output.stop_reason !== undefined && output.stop_reason !== null;
      spots.push(last ? takeLast(this.ctx, inner, ['outputs', i, 'text'], spec) : take(this.ctx, inner, ['outputs', i, 'text'], spec));
    }
    const masked = this.ctx.maskJson(inner);
    restore(masked, spots);
    return masked;
  }
}
