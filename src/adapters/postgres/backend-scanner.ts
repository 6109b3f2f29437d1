/**
 * Frames the upstream's byte stream without decoding it. Runs of frames the handler lets pass
 * are forwarded as slices of the chunk they arrived in (no copy); frames it wants whole are
 * handed over complete (copied once only when split across chunks) and may be replaced or
 * dropped. Large pass-through frames (rows, COPY data) are forwarded piece by piece as they
 * arrive, so a 100 MB row never sits in memory when nothing needs to read it.
 */
import { ProtocolError } from '../../errors.ts';

export interface FrameHandler {
  /** Whether frames of this type must be seen whole; the others pass through in pieces. */
  wantsWhole(type: number): boolean;
  /** Every frame's type and total length (type byte included), before its body is read. */
  onHeader(type: number, frameLength: number): void;
  /** A whole frame: undefined forwards it unchanged, null drops it, a Buffer is sent instead. */
  onFrame(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined;
}

const HEADER = 5;
const EMPTY = Buffer.alloc(0);
const NO_OUT: Buffer[] = [];
/** PostgreSQL's own limit for one message is 1 GB; anything longer is not a PostgreSQL server. */
const MAX_FRAME = 0x40000000 + HEADER;

export class BackendScanner {
  private readonly header = Buffer.allocUnsafe(HEADER);
  private headerLength = 0;
  /** Bytes of a pass-through frame still to come in later chunks. */
  private passRemaining = 0;
  /** A frame wanted whole that is split across chunks. */
  private whole: Buffer | null = null;
  private wholeLength = 0;
  private chunk: Buffer = EMPTY;
  private out: Buffer[] = NO_OUT;
  private runStart = 0;

  constructor(private readonly handler: FrameHandler) {}

  /** True between a frame's first and last byte: nothing may be inserted into the stream then. */
  get midFrame(): boolean {
    return this.passRemaining > 0 || this.headerLength > 0 || this.whole !== null;
  }

  /** Scans one chunk, appending what to send to `out`. Returns an error for a stream that is not PostgreSQL's. */
  push(chunk: Buffer, out: Buffer[]): ProtocolError | null {
    this.chunk = chunk;
    this.out = out;
    this.runStart = 0;
    try {
      return this.consume(chunk, out);
    } finally {
      this.chunk = EMPTY;
      this.out = NO_OUT;
    }
  }

  private consume(chunk: Buffer, out: Buffer[]): ProtocolError | null {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.passRemaining > 0) {
        const take = Math.min(this.passRemaining, n - pos);
        this.passRemaining -= take;
        pos += take;
        continue;
      }
      if (this.whole !== null) {
        pos = this.fillWhole(chunk, pos);
        continue;
      }
      if (this.headerLength > 0) {
        const take = Math.min(HEADER - this.headerLength, n - pos);
        chunk.copy(this.header, this.headerLength, pos, pos + take);
        this.headerLength += take;
        pos += take;
        this.runStart = pos;
        if (this.headerLength < HEADER) break;
        this.headerLength = 0;
        const length = this.frameLength(this.header, 0);
        if (length < 0) return invalid(this.header[0]!);
        // a frame whose header was split is rare: take it whole, whatever its type
        this.whole = Buffer.allocUnsafe(length);
        this.header.copy(this.whole, 0);
        this.wholeLength = HEADER;
        if (length === HEADER) this.finishWhole();
        continue;
      }
      if (n - pos < HEADER) {
        this.closeRun(pos);
        this.headerLength = chunk.copy(this.header, 0, pos, n);
        pos = n;
        this.runStart = n;
        break;
      }
      const type = chunk[pos]!;
      const length = this.frameLength(chunk, pos);
      if (length < 0) return invalid(type);
      const end = pos + length;
      if (end <= n) {
        if (this.handler.wantsWhole(type)) {
          const replacement = this.handler.onFrame(type, chunk, pos, end);
          if (replacement !== undefined) {
            this.closeRun(pos);
            if (replacement !== null) out.push(replacement);
            this.runStart = end;
          }
        }
        pos = end;
        continue;
      }
      if (this.handler.wantsWhole(type)) {
        this.closeRun(pos);
        this.whole = Buffer.allocUnsafe(length);
        this.wholeLength = chunk.copy(this.whole, 0, pos, n);
        pos = n;
        this.runStart = n;
      } else {
        this.passRemaining = end - n;
        pos = n;
      }
    }
    this.closeRun(n);
    return null;
  }

  private frameLength(buf: Buffer, pos: number): number {
    const declared = buf.readInt32BE(pos + 1);
    if (declared < 4 || declared + 1 > MAX_FRAME) return -1;
    this.handler.onHeader(buf[pos]!, declared + 1);
    return declared + 1;
  }

  private fillWhole(chunk: Buffer, pos: number): number {
    const whole = this.whole!;
    const take = Math.min(whole.length - this.wholeLength, chunk.length - pos);
    chunk.copy(whole, this.wholeLength, pos, pos + take);
    this.wholeLength += take;
    this.runStart = pos + take;
    if (this.wholeLength === whole.length) this.finishWhole();
    return pos + take;
  }

  private finishWhole(): void {
    const whole = this.whole!;
    this.whole = null;
    const type = whole[0]!;
    const replacement = this.handler.wantsWhole(type) ? this.handler.onFrame(type, whole, 0, whole.length) : undefined;
    if (replacement === undefined) this.out.push(whole);
    else if (replacement !== null) this.out.push(replacement);
  }

  private closeRun(at: number): void {
    if (at > this.runStart) this.out.push(this.chunkSlice(this.runStart, at));
    this.runStart = at;
  }

  private chunkSlice(start: number, end: number): Buffer {
    return this.chunk.subarray(start, end);
  }
}

function invalid(type: number): ProtocolError {
  return new ProtocolError(`the database sent an invalid message (type 0x${type.toString(16).padStart(2, '0')})`);
}
