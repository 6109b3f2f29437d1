import { MaskingError } from '../errors.ts';

export interface SseEvent {
  /** The event's lines as received, without the blank line that ends it. */
  readonly raw: string;
  /** The line breaks that ended it (`\n\n`, `\r\n\r\n` …); empty for a trailing event at end of stream. */
  readonly terminator: string;
}

// A blank line: two line ends in a row, any mix of CRLF, LF and CR.
const BLANK_LINE = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/g;

/**
 * Splits a `text/event-stream` into events as bytes arrive: UTF-8 sequences and blank lines
 * may be split anywhere across chunks. Only the unfinished tail is kept, and it is searched
 * from where the previous search stopped.
 */
export class SseEventSplitter {
  private pending = '';
  private searchFrom = 0;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly maxEventBytes: number) {}

  push(chunk: Buffer | string): SseEvent[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.split();
  }

  /** Events still pending at end of stream, the last one possibly without its blank line. */
  end(): SseEvent[] {
    this.pending += this.decoder.decode();
    const events = this.split();
    if (this.pending.length > 0) events.push({ raw: this.pending, terminator: '' });
    this.pending = '';
    return events;
  }

  private split(): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    BLANK_LINE.lastIndex = this.searchFrom;
    let m: RegExpExecArray | null;
    while ((m = BLANK_LINE.exec(this.pending)) !== null) {
      events.push({ raw: this.pending.slice(start, m.index), terminator: m[0] });
      start = BLANK_LINE.lastIndex;
    }
    if (start > 0) this.pending = this.pending.slice(start);
    // A terminator may be split: the next search starts a few chars back.
    this.searchFrom = Math.max(0, this.pending.length - 3);
    if (this.pending.length > this.maxEventBytes) {
      throw new MaskingError(`server-sent event larger than ${this.maxEventBytes} bytes; the stream was cut`);
    }
    return events;
  }
}
