import { createOpenAiSseMasker, type OpenAiSseMasker } from '../../src/masking/index.ts';
import { SseParser, type SseSink } from '../../src/masking/sse-parser.ts';
import { profileOf } from './profile-fixture.ts';

export const pii = profileOf({ entities: { secret: 'redact', pii: 'redact', credit_card: 'partial' } });
export const ENVELOPE = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1715678000, model: 'gpt-4o-mini' };
export const SECRETS = ['AKIAIOSFODNN7EXAMPLE', '4242 4242 4242 4242', 'maria.garcia@example.com'] as const;

export function chatEvent(delta: Record<string, unknown>, finish: string | null = null, index = 0): string {
  return `data: ${JSON.stringify({ ...ENVELOPE, choices: [{ index, delta, finish_reason: finish }] })}\n\n`;
}

export function completionEvent(text: string, index = 0, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'gpt-3.5-turbo-instruct', choices: [{ text, index, logprobs: null, finish_reason: finish }] })}\n\n`;
}

export function responsesEvent(type: string, body: Record<string, unknown>, seq = 0): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...body })}\n\n`;
}

export function splitEvery(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** Cuts `text` so that `secret` (which must occur in it) falls into `parts` pieces. */
export function splitAcross(text: string, secret: string, parts: number): string[] {
  const at = text.indexOf(secret);
  if (at === -1) throw new Error('secret not in text');
  const cuts = [0];
  for (let i = 1; i < parts; i++) cuts.push(at + Math.floor((secret.length * i) / parts));
  cuts.push(text.length);
  const out: string[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) out.push(text.slice(cuts[i], cuts[i + 1]));
  return out;
}

export interface Run {
  readonly out: string;
  readonly masker: OpenAiSseMasker;
}

export function runMasker(chunks: readonly (string | Buffer)[]): Run {
  const masker = createOpenAiSseMasker(pii);
  let out = '';
  for (const c of chunks) out += masker.push(typeof c === 'string' ? Buffer.from(c) : c);
  out += masker.end();
  return { out, masker };
}

interface ClientEvent {
  type: string | null;
  data: string | null;
  id: string | null;
}

/** The events a spec-following client reads from `sse`, comments included as type ':'. */
export function clientEvents(sse: string): ClientEvent[] {
  const events: ClientEvent[] = [];
  const sink: SseSink = {
    onEvent: (type, data, id) => events.push({ type, data, id }),
    onComment: (text) => events.push({ type: ':', data: text, id: null }),
  };
  const parser = new SseParser(sink, 1 << 24);
  parser.push(sse);
  parser.end();
  return events;
}

function strings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  }
}

/**
 * Everything a client can read in `sse`, in order: event names, ids, comments, and every
 * key and string of every JSON event (raw data when not JSON), concatenated, so that a value
 * split across events reappears whole.
 */
export function visibleText(sse: string): string {
  const out: string[] = [];
  for (const e of clientEvents(sse)) {
    if (e.type !== null) out.push(e.type);
    if (e.id !== null) out.push(e.id);
    if (e.data === null) continue;
    try {
      strings(JSON.parse(e.data), out);
    } catch {
      out.push(e.data);
    }
  }
  return out.join('');
}
