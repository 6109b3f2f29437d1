/** Bounds-checked reads from one frontend message body (PostgreSQL's pq_getmsg* family). */

/** Thrown by BodyReader and always caught by the decoders: malformed bodies become results, never exceptions. */
export class Malformed extends Error {}

/** Cursor over one message body; set() rebinds it, so one instance serves every message. */
export class BodyReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;

  set(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new Malformed(`${what} runs past the end of the message`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  int16(what: string): number {
    this.need(2, what);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(what: string): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  count(what: string): number {
    const n = this.int16(what);
    if (n < 0) throw new Malformed(`negative ${what}`);
    return n;
  }

  cstring(what: string): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new Malformed(`${what} is not NUL-terminated`);
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** PostgreSQL rejects trailing bytes (pq_getmsgend); so do we, so both sides agree on what was sent. */
  done(what: string): void {
    if (this.pos !== this.end) throw new Malformed(`${what} has ${this.end - this.pos} unexpected trailing bytes`);
  }
}
