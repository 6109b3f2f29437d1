/**
 * The life every provider's SSE masker shares: bytes go to the SSE parser, which hands each event
 * to the subclass; comments pass as they came; a parse or masking failure ends the masker for good;
 * `end` flushes what the subclass still holds. Subclasses say what an event becomes, what is left
 * at the end, and how the provider writes an error event.
 */
import { MaskingError } from '../../errors.ts';
import { SseParser, type SseSink } from '../sse-parser.ts';
import { wrapMasking, type ProviderStreamMasker } from './common.ts';

export abstract class SseProviderMasker implements ProviderStreamMasker, SseSink {
  readonly mode = 'stream';
  readonly decodes = false;
  protected readonly parser: SseParser;
  /** What may go to the client at the next push or end. */
  protected out = '';
  private done = false;

  constructor(maxEventChars: number) {
    this.parser = new SseParser(this, maxEventChars);
  }

  abstract onEvent(name: string | null, data: string | null): void;
  abstract transcript(): string;
  /** After the last byte: write out whatever is still held back. */
  protected abstract finish(): void;
  /** The provider's own error event, which its SDK raises, with the stream's line ending. */
  protected abstract errorEvent(error: Error, eol: string): string;

  push(chunk: Buffer): string {
    if (this.done) throw new MaskingError('stream masker used after its end');
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.done = true;
      throw wrapMasking(err);
    }
    return this.take();
  }

  end(): string {
    if (this.done) throw new MaskingError('stream masker used after its end');
    this.done = true;
    try {
      this.parser.end();
      this.finish();
    } catch (err) {
      throw wrapMasking(err);
    }
    return this.take();
  }

  failure(error: Error): string {
    this.done = true;
    this.out = '';
    return this.errorEvent(error, this.parser.eol);
  }

  onComment(): void {
    this.out += `:${this.parser.eol}`;
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }
}
