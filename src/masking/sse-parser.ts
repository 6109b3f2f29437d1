import { MaskingError } from '../errors.ts';

/** What the parser hands on, once per event block and once per comment line. */
export interface SseSink {
  /**
   * A block ended by a blank line that set at least one field the spec acts on. `data` is
   * null when the block had no data field (a client then dispatches nothing, but `id` and
   * `retry` still take effect); `id` and `retry` are null when the block did not set them.
   */
  onEvent(type: string | null, data: string | null, id: string | null, retry: string | null): void;
  onComment(text: string): void;
}

// CRLF, a lone CR or a lone LF; a CR at the very end of a chunk may still be followed by LF.
const LINE_END = /\r\n?|\n/g;

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Parses `text/event-stream` as the WHATWG HTML standard defines it (§9.2.6), incrementally:
 * UTF-8 decoding with replacement characters and the leading BOM dropped, lines ended by
 * CRLF, LF or CR in any mix and split anywhere across chunks, `field: value` with one optional
 * space removed, `:` comments, data lines joined with LF, an `id` containing NUL ignored,
 * `retry` only when all digits, unknown fields ignored. At end of stream an event without its
 * blank line is discarded, as a browser discards it. Only the unfinished line is kept between
 * chunks, and it is never searched again.
 */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private tail = '';
  /** The previous chunk ended in CR: an LF at the start of the next one belongs to it. */
  private afterCr = false;
  private data: string | null = null;
  private type: string | null = null;
  private id: string | null = null;
  private retry: string | null = null;
  private eventChars = 0;
  private ended = false;
  /** The line break the upstream used last, so output written in its place can match it. */
  eol = '\n';

  constructor(
    private readonly sink: SseSink,
    /** Largest event (or line) accepted, in UTF-16 code units; beyond it MaskingError. */
    private readonly maxEventChars: number,
  ) {}

  push(chunk: Buffer | Uint8Array | string): void {
    if (this.ended) throw new MaskingError('event stream parser used after its end');
    const decoded = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (decoded.length > 0) this.scan(decoded);
  }

  /** Flushes the decoder; an unfinished event is dropped, as the spec says. */
  end(): void {
    if (this.ended) return;
    const rest = this.decoder.decode();
    if (rest.length > 0) this.scan(rest);
    this.ended = true;
    this.tail = '';
    this.data = this.type = this.id = this.retry = null;
  }

  private scan(decoded: string): void {
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (decoded.charCodeAt(0) === 10) start = 1;
      this.eol = start === 1 ? '\r\n' : '\r';
    }
    const from = this.tail.length;
    const text = from === 0 ? (start === 0 ? decoded : decoded.slice(start)) : this.tail + decoded.slice(start);
    let pos = 0;
    LINE_END.lastIndex = from;
    let m: RegExpExecArray | null;
    while ((m = LINE_END.exec(text)) !== null) {
      const end = m.index;
      const brk = m[0];
      // A CR that ends the chunk may be half a CRLF: the line ends here, its kind is known later.
      if (brk.length === 1 && brk.charCodeAt(0) === 13 && LINE_END.lastIndex === text.length) this.afterCr = true;
      else this.eol = brk;
      this.line(text, pos, end);
      pos = LINE_END.lastIndex;
    }
    this.tail = pos === 0 ? text : text.slice(pos);
    if (this.tail.length + this.eventChars > this.maxEventChars) this.tooLarge();
  }

  private tooLarge(): never {
    throw new MaskingError(`a server-sent event is larger than ${this.maxEventChars} characters; the stream was ended`);
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) {
      this.dispatch();
      return;
    }
    if (text.charCodeAt(start) === 58 /* : */) {
      this.sink.onComment(text.slice(start + 1, end));
      return;
    }
    this.eventChars += end - start;
    if (this.eventChars > this.maxEventChars) this.tooLarge();
    let colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) colon = end;
    let valueStart = colon + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === 32) valueStart++;
    const value = colon === end ? '' : text.slice(valueStart, end);
    const nameLength = colon - start;
    if (nameLength === 4 && text.startsWith('data', start)) {
      this.data = this.data === null ? value : `${this.data}\n${value}`;
    } else if (nameLength === 5 && text.startsWith('event', start)) {
      this.type = value;
    } else if (nameLength === 2 && text.startsWith('id', start)) {
      if (value.indexOf('\0') === -1) this.id = value;
    } else if (nameLength === 5 && text.startsWith('retry', start)) {
      if (isDigits(value)) this.retry = value;
    }
  }

  private dispatch(): void {
    const { type, data, id, retry } = this;
    this.data = this.type = this.id = this.retry = null;
    this.eventChars = 0;
    if (data !== null || id !== null || retry !== null) this.sink.onEvent(type, data, id, retry);
  }
}
