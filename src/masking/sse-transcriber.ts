import { SseParser, type SseSink } from './sse-parser.ts';
import { type ChannelKind, isErrorEvent, isObject, type Json, type StreamFieldVisitor, visitStreamFields } from './stream-events.ts';
import { StreamTranscript } from './stream-transcript.ts';

/**
 * Builds the readable transcript of an event stream that is sent on unchanged: the same parser
 * and the same channel model as the masker, without masking. It never throws: a stream it
 * cannot follow (an event over the size cap) ends its transcript with a note, and once the
 * transcript is full it stops parsing.
 */
export class SseTranscriber implements SseSink, StreamFieldVisitor {
  private readonly parser: SseParser;
  private readonly record: StreamTranscript;
  private stopped = false;

  constructor(transcriptBytes: number, maxEventChars: number) {
    this.record = new StreamTranscript(transcriptBytes);
    this.parser = new SseParser(this, maxEventChars);
  }

  feed(chunk: Buffer | string): void {
    if (this.stopped) return;
    if (!this.record.open) {
      this.stopped = true;
      return;
    }
    try {
      this.parser.push(chunk);
    } catch {
      this.stop();
    }
  }

  finish(): void {
    if (this.stopped) return;
    try {
      this.parser.end();
    } catch {
      this.stop();
    }
  }

  private stop(): void {
    this.stopped = true;
    this.record.note('[transcript incomplete: an event was too large to follow]');
  }

  toString(): string {
    return this.record.toString();
  }

  onComment(): void {}

  onEvent(type: string | null, data: string | null): void {
    if (data === null || data === '' || data.trim() === '[DONE]') return;
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      this.record.note(data);
      return;
    }
    if (!isObject(value)) return;
    visitStreamFields(value, this);
    if (isErrorEvent(type, value)) this.record.note(`[error] ${data}`);
  }

  field(holder: Json, prop: string, key: string, kind: ChannelKind, choice: number): void {
    this.record.add(key, kind, choice, holder, prop, holder[prop] as string);
  }
}

/** The transcript of a whole recorded stream (for callers that hold it as text). */
export function reassembleSseTranscript(sse: string, transcriptBytes = 1024 * 1024): string {
  const t = new SseTranscriber(transcriptBytes, 8 * 1024 * 1024);
  t.feed(sse);
  t.finish();
  return t.toString();
}
