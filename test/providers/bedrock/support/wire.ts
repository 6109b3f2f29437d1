/**
 * Bedrock's wire format as the test upstream writes it and a client reads it, built with
 * @smithy/eventstream-codec directly (not with the gateway's own helpers), so a test fails
 * when the gateway's framing drifts from the SDK's.
 */
import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

export const codec = new EventStreamCodec(toUtf8, fromUtf8);

export function frame(headers: Readonly<Record<string, string>>, payload: unknown): Buffer {
  const typed: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers)) typed[name] = { type: 'string', value };
  const body = payload instanceof Uint8Array ? payload : fromUtf8(JSON.stringify(payload));
  const bytes = codec.encode({ headers: typed, body });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function event(eventType: string, payload: unknown): Buffer {
  return frame({ ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' }, payload);
}

/** An InvokeModelWithResponseStream chunk carrying a model's own JSON. */
export function chunk(inner: unknown): Buffer {
  return event('chunk', { bytes: Buffer.from(JSON.stringify(inner)).toString('base64') });
}

export function exception(type: string, message: string): Buffer {
  return frame({ ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' }, { message });
}

/** A ConverseStream answer: text in pieces (block 0), optionally a tool call (block 1), usage. */
export function converseStream(pieces: readonly string[], tool?: { name: string; input: readonly string[] }): Buffer[] {
  const out = [event('messageStart', { role: 'assistant' })];
  for (const text of pieces) out.push(event('contentBlockDelta', { contentBlockIndex: 0, delta: { text } }));
  out.push(event('contentBlockStop', { contentBlockIndex: 0 }));
  if (tool) {
    out.push(event('contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_1', name: tool.name } } }));
    for (const input of tool.input) out.push(event('contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input } } }));
    out.push(event('contentBlockStop', { contentBlockIndex: 1 }));
  }
  out.push(event('messageStop', { stopReason: tool ? 'tool_use' : 'end_turn' }));
  out.push(event('metadata', { usage: { inputTokens: 11, outputTokens: 7, totalTokens: 18 }, metrics: { latencyMs: 5 } }));
  return out;
}

/** An Anthropic-on-Bedrock InvokeModelWithResponseStream answer. */
export function anthropicStream(pieces: readonly string[]): Buffer[] {
  const out = [
    chunk({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', content: [], usage: { input_tokens: 9, output_tokens: 1 } } }),
    chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ];
  for (const text of pieces) out.push(chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }));
  out.push(
    chunk({ type: 'content_block_stop', index: 0 }),
    chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } }),
    chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 9, outputTokenCount: 6, invocationLatency: 10, firstByteLatency: 3 } }),
  );
  return out;
}

export interface ReadEvent {
  readonly headers: Record<string, string>;
  readonly json: any;
}

/** Every message in `bytes`, as a client decodes it (CRCs checked by the codec). */
export function readEvents(bytes: Buffer): ReadEvent[] {
  const out: ReadEvent[] = [];
  let at = 0;
  while (at < bytes.length) {
    const total = bytes.readUInt32BE(at);
    const message = codec.decode(bytes.subarray(at, at + total));
    const headers: Record<string, string> = {};
    for (const [name, h] of Object.entries(message.headers)) headers[name] = String(h.value);
    const text = toUtf8(message.body);
    out.push({ headers, json: text === '' ? null : JSON.parse(text) });
    at += total;
  }
  return out;
}

/** An InvokeModel chunk's model JSON, decoded. */
export function inner(e: ReadEvent): any {
  return JSON.parse(Buffer.from(e.json.bytes, 'base64').toString('utf8'));
}

/** The text of each ConverseStream block (text deltas and tool input), as the SDK's user joins it. */
export function converseTexts(events: readonly ReadEvent[]): Map<string, string> {
  const texts = new Map<string, string>();
  for (const e of events) {
    if (e.headers[':event-type'] !== 'contentBlockDelta') continue;
    const { contentBlockIndex: i, delta } = e.json;
    const add = (key: string, text: string) => texts.set(key, (texts.get(key) ?? '') + text);
    if (typeof delta.text === 'string') add(`${i}:text`, delta.text);
    if (delta.toolUse) add(`${i}:tool`, delta.toolUse.input);
    if (delta.reasoningContent?.text !== undefined) add(`${i}:reasoning`, delta.reasoningContent.text);
  }
  return texts;
}

export function splitEvery(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}
