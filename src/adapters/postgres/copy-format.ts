/**
 * COPY's text and CSV formats, as the server writes them for `COPY … TO STDOUT`: a record reader
 * that finds whole records in a byte stream cut anywhere (a record may span CopyData messages,
 * one message may hold several), a field splitter that decodes values the way COPY FROM would
 * read them back, and an encoder for replaced values. Unchanged fields are never re-encoded: their
 * raw bytes are kept, so what masking leaves alone arrives byte for byte.
 */

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;

export interface CopyFormat {
  readonly csv: boolean;
  /** One byte. */
  readonly delimiter: number;
  /** Compared with a field's raw bytes (before any unescaping), as COPY FROM does. */
  readonly nullString: Buffer;
  /** CSV only: one byte each. */
  readonly quote: number;
  readonly escape: number;
}

export interface CopyRecord {
  /** The record's bytes without its line end. */
  readonly body: Buffer;
  /** `\n` or `\r\n`, as sent. */
  readonly lineEnd: Buffer;
}

export interface CopyFields {
  /** Raw bytes of each field, as sent. */
  readonly raw: Buffer[];
  /** Decoded values (null for SQL NULL). */
  readonly values: (string | null)[];
}

const LINE_END_LF = Buffer.from([LF]);
const LINE_END_CRLF = Buffer.from([CR, LF]);

/**
 * Splits a byte stream into records. Keeps the scan state of a record cut between messages, so
 * bytes already read are never read again however small the pieces are.
 */
export class CopyRecordReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** CSV: inside quotes. Text: the previous byte was an escaping backslash. */
  private quoted = false;
  private escaped = false;

  constructor(
    private readonly format: CopyFormat,
    /** Longest record held while waiting for its end; more is refused (the caller withholds). */
    private readonly maxRecordBytes: number,
  ) {}

  /** Bytes of a record begun but not ended. */
  get held(): number {
    return this.pendingBytes;
  }

  /** Appends every record completed by `chunk` to `out`; false when a record outgrows the limit. */
  push(chunk: Buffer, out: CopyRecord[]): boolean {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (!this.endsRecord(chunk[i]!)) continue;
      const body = this.take(chunk.subarray(from, i));
      const crlf = body.length > 0 && body[body.length - 1] === CR && (this.format.csv || trailingBackslashes(body, body.length - 1) % 2 === 0);
      out.push({ body: crlf ? body.subarray(0, body.length - 1) : body, lineEnd: crlf ? LINE_END_CRLF : LINE_END_LF });
      from = i + 1;
    }
    if (from < chunk.length) {
      if (this.pendingBytes + chunk.length - from > this.maxRecordBytes) return false;
      // copied: the chunk is the scanner's and is reused once this call returns
      this.pending.push(Buffer.from(chunk.subarray(from)));
      this.pendingBytes += chunk.length - from;
    }
    return true;
  }

  /** A record still open at the end of the data (no final line end), or null; quoted CSV left open is an error (undefined). */
  finish(): CopyRecord | null | undefined {
    if (this.pendingBytes === 0) return null;
    if (this.quoted) return undefined;
    return { body: this.take(Buffer.alloc(0)), lineEnd: Buffer.alloc(0) };
  }

  private endsRecord(b: number): boolean {
    const f = this.format;
    if (!f.csv) {
      if (this.escaped) {
        this.escaped = false;
        return false;
      }
      if (b === BACKSLASH) {
        this.escaped = true;
        return false;
      }
      return b === LF;
    }
    if (this.escaped) {
      // an escape inside quotes makes a following quote or escape literal; anything else is read as usual
      this.escaped = false;
      if (b === f.quote || b === f.escape) return false;
    }
    if (this.quoted) {
      if (b === f.escape && f.escape !== f.quote) this.escaped = true;
      // with escape = quote, a doubled quote toggles out and back in: the record boundary is the same
      else if (b === f.quote) this.quoted = false;
      return false;
    }
    if (b === f.quote) this.quoted = true;
    return b === LF;
  }

  private take(tail: Buffer): Buffer {
    if (this.pendingBytes === 0) return tail;
    const whole = Buffer.concat([...this.pending, tail], this.pendingBytes + tail.length);
    this.pending = [];
    this.pendingBytes = 0;
    return whole;
  }
}

/** How many backslashes end `body` before `end`: an odd count escapes the byte at `end`. */
function trailingBackslashes(body: Buffer, end: number): number {
  let n = 0;
  while (end - n - 1 >= 0 && body[end - n - 1] === BACKSLASH) n++;
  return n;
}

/** Splits one record into fields and decodes them; `nulls: false` reads every field as text (a header). */
export function readFields(format: CopyFormat, body: Buffer, nulls = true): CopyFields {
  return format.csv ? readCsv(format, body, nulls) : readText(format, body, nulls);
}

function readText(f: CopyFormat, body: Buffer, nulls: boolean): CopyFields {
  const raw: Buffer[] = [];
  const values: (string | null)[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i < body.length) {
      const b = body[i]!;
      if (b === BACKSLASH) {
        i++;
        continue;
      }
      if (b !== f.delimiter) continue;
    }
    const field = body.subarray(start, i);
    raw.push(field);
    values.push(nulls && field.equals(f.nullString) ? null : unescapeText(field));
    start = i + 1;
  }
  return { raw, values };
}

const SIMPLE_ESCAPES: Readonly<Record<number, number>> = { 0x62: 0x08, 0x66: 0x0c, 0x6e: LF, 0x72: CR, 0x74: 0x09, 0x76: 0x0b };

/** COPY FROM's reading of backslash escapes: \b \f \n \r \t \v, octal \ooo, hex \xhh, else the character itself. */
function unescapeText(field: Buffer): string {
  if (!field.includes(BACKSLASH)) return field.toString('utf8');
  const out = Buffer.allocUnsafe(field.length);
  let n = 0;
  for (let i = 0; i < field.length; i++) {
    const b = field[i]!;
    if (b !== BACKSLASH || i + 1 >= field.length) {
      out[n++] = b;
      continue;
    }
    const c = field[++i]!;
    if (c >= 0x30 && c <= 0x37) {
      let v = c - 0x30;
      for (let k = 0; k < 2 && i + 1 < field.length && field[i + 1]! >= 0x30 && field[i + 1]! <= 0x37; k++) v = v * 8 + field[++i]! - 0x30;
      out[n++] = v & 0xff;
    } else if (c === 0x78 && i + 1 < field.length && hexValue(field[i + 1]!) >= 0) {
      let v = hexValue(field[++i]!);
      if (i + 1 < field.length && hexValue(field[i + 1]!) >= 0) v = v * 16 + hexValue(field[++i]!);
      out[n++] = v;
    } else {
      out[n++] = SIMPLE_ESCAPES[c] ?? c;
    }
  }
  return out.toString('utf8', 0, n);
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

/** CSV as COPY FROM reads it: quotes anywhere in a field, escape + quote/escape literal inside quotes, NULL only unquoted. */
function readCsv(f: CopyFormat, body: Buffer, nulls: boolean): CopyFields {
  const raw: Buffer[] = [];
  const values: (string | null)[] = [];
  const value = Buffer.allocUnsafe(body.length);
  let i = 0;
  for (;;) {
    const start = i;
    let n = 0;
    let quoted = false;
    let sawQuote = false;
    for (; i < body.length; i++) {
      const b = body[i]!;
      if (quoted) {
        if (b === f.escape && i + 1 < body.length && (body[i + 1] === f.quote || body[i + 1] === f.escape)) {
          value[n++] = body[++i]!;
        } else if (b === f.quote) {
          quoted = false;
        } else {
          value[n++] = b;
        }
      } else if (b === f.delimiter) {
        break;
      } else if (b === f.quote) {
        quoted = sawQuote = true;
      } else {
        value[n++] = b;
      }
    }
    const field = body.subarray(start, i);
    raw.push(field);
    values.push(nulls && !sawQuote && field.equals(f.nullString) ? null : value.toString('utf8', 0, n));
    if (i >= body.length) break;
    i++; // the delimiter
  }
  return { raw, values };
}

/** A replaced value in the record's format. CSV values are always quoted, so no value reads back as NULL. */
export function encodeField(f: CopyFormat, value: string | null): Buffer {
  if (value === null) return f.nullString;
  const bytes = Buffer.from(value, 'utf8');
  return f.csv ? quoteCsv(f, bytes) : escapeText(f, bytes);
}

const TEXT_ESCAPES: Readonly<Record<number, number>> = { 0x08: 0x62, 0x0c: 0x66, [LF]: 0x6e, [CR]: 0x72, 0x09: 0x74, 0x0b: 0x76, [BACKSLASH]: BACKSLASH };

function escapeText(f: CopyFormat, bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length * 2);
  let n = 0;
  for (const b of bytes) {
    const e = TEXT_ESCAPES[b];
    if (e !== undefined || b === f.delimiter) {
      out[n++] = BACKSLASH;
      out[n++] = e ?? b;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

function quoteCsv(f: CopyFormat, bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length * 2 + 2);
  let n = 0;
  out[n++] = f.quote;
  for (const b of bytes) {
    if (b === f.quote || b === f.escape) out[n++] = f.escape;
    out[n++] = b;
  }
  out[n++] = f.quote;
  return out.subarray(0, n);
}

/** A record rebuilt from its fields: raw bytes where the value is unchanged, encoded where it was replaced. */
export function writeRecord(f: CopyFormat, fields: CopyFields, masked: readonly (string | null)[], lineEnd: Buffer): Buffer {
  const parts: Buffer[] = [];
  const delimiter = Buffer.from([f.delimiter]);
  for (let i = 0; i < fields.raw.length; i++) {
    if (i > 0) parts.push(delimiter);
    parts.push(masked[i] === fields.values[i] ? fields.raw[i]! : encodeField(f, masked[i] ?? null));
  }
  parts.push(lineEnd);
  return Buffer.concat(parts);
}
