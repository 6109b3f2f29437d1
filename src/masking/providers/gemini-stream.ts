/**
 * Masks Gemini's streamGenerateContent as it flows, in both of its framings: an event stream
 * (`?alt=sse`: one `data:` line of JSON per chunk) and the default JSON array whose elements
 * arrive one by one. Each candidate's text (and, apart, its thoughts) goes through a text masker
 * of its own that holds back what may still be the start of a secret; held text goes out as one
 * more chunk at the end. Every other string of a chunk (function call arguments arrive whole) is
 * masked as JSON. Data that is not a JSON object ends the stream with an error chunk in
 * Google's shape, which @google/genai raises as an ApiError.
 */
import { GatewayError, MaskingError } from '../../errors.ts';
import { ChannelKind } from '../stream-events.ts';
import { StreamTranscript } from '../stream-transcript.ts';
import type { MaskProfile, TextStreamMasker } from '../types.ts';
import { Channels, isObject, parseEventJson, wrapMasking, type Json, type ProviderStreamMasker } from './common.ts';
import { JsonArraySplitter } from './json-array.ts';
import { SseProviderMasker } from './sse-provider-masker.ts';

interface Part {
  readonly masker: TextStreamMasker;
  readonly candidate: number;
  readonly thought: boolean;
}

export function geminiErrorChunk(error: Error): string {
  const message = error instanceof GatewayError ? error.message : 'response masking failed; the stream was ended';
  const code = error instanceof GatewayError ? error.code : 'masking_failed';
  return JSON.stringify({ error: { code: 502, message, status: 'UNAVAILABLE', gatehouse: { code } } });
}

/** The chunk-level work both framings share. */
class ChunkMasker {
  readonly channels: Channels<Part>;
  readonly record: StreamTranscript;
  /** The last chunk's fields that describe the response (modelVersion, responseId), for held-text chunks. */
  private template: Json = {};

  constructor(profile: MaskProfile, transcriptBytes: number) {
    this.channels = new Channels(profile);
    this.record = new StreamTranscript(transcriptBytes);
  }

  /** One chunk in, its masked JSON out. */
  mask(chunk: Json): string {
    if (chunk.error !== undefined) {
      const masked = this.channels.maskJson(chunk);
      this.record.note(`[error] ${JSON.stringify(masked)}`);
      return JSON.stringify(masked);
    }
    const taken: { part: Json; channel: Part; raw: string }[] = [];
    const candidates = chunk.candidates;
    if (candidates !== undefined && !Array.isArray(candidates)) throw new MaskingError('the upstream sent a chunk whose candidates are not a list; the stream was ended');
    const copy: Json = { ...chunk };
    if (Array.isArray(candidates)) {
      copy.candidates = candidates.map((candidate, pos) => {
        if (!isObject(candidate) || !isObject(candidate.content) || !Array.isArray(candidate.content.parts)) return candidate;
        const index = typeof candidate.index === 'number' && Number.isInteger(candidate.index) ? candidate.index : pos;
        const parts = candidate.content.parts.map((part) => {
          if (!isObject(part) || typeof part.text !== 'string') return part;
          const thought = part.thought === true;
          const channel = this.channels.get(`g${index}.${thought ? 1 : 0}`, (masker) => ({ masker, candidate: index, thought }));
          const blank = { ...part, text: '' };
          taken.push({ part: blank, channel, raw: part.text });
          return blank;
        });
        return { ...candidate, content: { ...candidate.content, parts } };
      });
    }
    // The rest of the chunk is masked as JSON; the channel text is put back into the masked copy.
    const masked = this.channels.maskJson(copy);
    if (masked !== copy && taken.length > 0) throw new MaskingError('a chunk changed shape while it was masked; the stream was ended');
    for (const t of taken) {
      const text = t.raw === '' ? '' : t.channel.masker.push(t.raw);
      t.part.text = text;
      this.record.add(`g${t.channel.candidate}.${t.channel.thought ? 1 : 0}`, ChannelKind.PartText, t.channel.candidate, t.part, 'text', text);
    }
    this.template = {};
    for (const key of ['modelVersion', 'responseId', 'createTime'] as const) if (masked[key] !== undefined) this.template[key] = masked[key];
    return JSON.stringify(masked);
  }

  /** Chunks carrying what the channels still hold. */
  flush(): string[] {
    const out: string[] = [];
    this.channels.close((channel, rest) => {
      const part: Json = channel.thought ? { text: rest, thought: true } : { text: rest };
      this.record.add(`g${channel.candidate}.${channel.thought ? 1 : 0}`, ChannelKind.PartText, channel.candidate, part, 'text', rest);
      out.push(JSON.stringify({ candidates: [{ content: { parts: [part], role: 'model' }, index: channel.candidate }], ...this.template }));
    });
    return out;
  }
}

/** `?alt=sse`: `data: {chunk}` events. */
export class GeminiSseMasker extends SseProviderMasker {
  private readonly chunks: ChunkMasker;

  constructor(profile: MaskProfile, maxEventChars: number, transcriptBytes: number) {
    super(maxEventChars);
    this.chunks = new ChunkMasker(profile, transcriptBytes);
  }

  protected finish(): void {
    for (const chunk of this.chunks.flush()) this.data(chunk);
  }

  protected errorEvent(error: Error, eol: string): string {
    return `${eol}data: ${geminiErrorChunk(error)}${eol}${eol}`;
  }

  transcript(): string {
    return this.chunks.record.toString();
  }

  onEvent(name: string | null, data: string | null): void {
    if (data === null || data === '') return;
    // Gemini names no events; a named one is something else, and its client would skip it anyway.
    if (name !== null) throw new MaskingError('the upstream sent a named event, which Gemini streams do not have; under a masking profile it cannot be placed, so the stream was ended');
    this.data(this.chunks.mask(parseEventJson(data, 'a chunk')));
  }

  private data(json: string): void {
    const eol = this.parser.eol;
    this.out += `data: ${json}${eol}${eol}`;
  }
}

/** The default framing: `[{chunk}\n,\r\n{chunk}\n]`, each element masked as soon as it is whole. */
export class GeminiArrayMasker implements ProviderStreamMasker {
  readonly mode = 'stream';
  readonly decodes = false;
  private readonly splitter: JsonArraySplitter;
  private readonly chunks: ChunkMasker;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private opened = false;
  private elements = 0;
  private done = false;

  constructor(profile: MaskProfile, maxElementChars: number, transcriptBytes: number) {
    this.splitter = new JsonArraySplitter(maxElementChars);
    this.chunks = new ChunkMasker(profile, transcriptBytes);
  }

  push(chunk: Buffer): string {
    if (this.done) throw new MaskingError('stream masker used after its end');
    try {
      return this.feed(this.decoder.decode(chunk, { stream: true }));
    } catch (err) {
      this.done = true;
      throw wrapMasking(err);
    }
  }

  end(): string {
    if (this.done) throw new MaskingError('stream masker used after its end');
    this.done = true;
    try {
      let out = this.feed(this.decoder.decode());
      this.splitter.end();
      for (const chunk of this.chunks.flush()) out += this.splitter.bare ? '' : this.element(chunk);
      return out + (this.opened ? '\n]' : '');
    } catch (err) {
      throw wrapMasking(err);
    }
  }

  failure(error: Error): string {
    this.done = true;
    const chunk = geminiErrorChunk(error);
    if (this.splitter.bare) return chunk;
    if (!this.opened) return `[${chunk}]`;
    return `${this.elements > 0 ? '\n,\r\n' : ''}${chunk}\n]`;
  }

  transcript(): string {
    return this.chunks.record.toString();
  }

  private feed(text: string): string {
    let out = '';
    for (const piece of this.splitter.push(text)) {
      if (piece === '[') {
        this.opened = true;
        out += '[';
      } else {
        const masked = this.chunks.mask(parseEventJson(piece, 'an array element'));
        out += this.splitter.bare ? masked : this.element(masked);
      }
    }
    return out;
  }

  private element(json: string): string {
    return (this.elements++ > 0 ? '\n,\r\n' : '') + json;
  }
}
