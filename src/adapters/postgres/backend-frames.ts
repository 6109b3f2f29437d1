/**
 * Reads the few server → client messages the gateway has to look inside (row descriptions,
 * rows when masking applies, command tags, errors). Each function sees one complete frame:
 * `buf[start]` is the type byte, `end` is one past the frame's last byte. pg-protocol's parser
 * decodes every DataRow into values; the proxy's hot path must not, so these read only on demand.
 */
import { BackendCode } from './message-codes.ts';

export interface Columns {
  readonly names: readonly string[];
  /** Per column: 0 text, 1 binary. */
  readonly formats: readonly number[];
}

export interface NoticeFieldMap {
  /** Field code (S, V, C, M, D, H, P, W …) → value, in wire order. */
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

function cstringEnd(buf: Buffer, pos: number, end: number): number {
  const nul = buf.indexOf(0, pos);
  return nul < 0 || nul >= end ? end : nul;
}

/** RowDescription ('T'): column names and formats. */
export function readRowDescription(buf: Buffer, start: number, end: number): Columns {
  let pos = start + 5;
  const count = buf.readInt16BE(pos);
  pos += 2;
  const names: string[] = new Array(count);
  const formats: number[] = new Array(count);
  for (let i = 0; i < count && pos < end; i++) {
    const nul = cstringEnd(buf, pos, end);
    names[i] = buf.toString('utf8', pos, nul);
    pos = nul + 1 + 4 + 2 + 4 + 2 + 4; // table oid, column number, type oid, type size, type modifier
    formats[i] = buf.readInt16BE(pos);
    pos += 2;
  }
  return { names, formats };
}

/** DataRow ('D') values as text (null for SQL NULL). */
export function readDataRow(buf: Buffer, start: number, end: number): (string | null)[] {
  let pos = start + 5;
  const count = buf.readInt16BE(pos);
  pos += 2;
  const values: (string | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len < 0) {
      values[i] = null;
      continue;
    }
    const stop = Math.min(pos + len, end);
    values[i] = buf.toString('utf8', pos, stop);
    pos = stop;
  }
  return values;
}

/** CommandComplete ('C') tag, e.g. `SELECT 3`, `INSERT 0 1`. */
export function readCommandTag(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start + 5, cstringEnd(buf, start + 5, end));
}

/** The row count a command tag reports, or 0 for tags without one (`BEGIN`, `CREATE TABLE`). */
export function tagRowCount(tag: string): number {
  const space = tag.lastIndexOf(' ');
  if (space < 0) return 0;
  const n = Number(tag.slice(space + 1));
  return Number.isSafeInteger(n) ? n : 0;
}

/** ErrorResponse / NoticeResponse fields. */
export function readNoticeFields(buf: Buffer, start: number, end: number): NoticeFieldMap {
  const fields: [string, string][] = [];
  let pos = start + 5;
  while (pos < end && buf[pos] !== 0) {
    const code = String.fromCharCode(buf[pos]!);
    const nul = cstringEnd(buf, pos + 1, end);
    fields.push([code, buf.toString('utf8', pos + 1, nul)]);
    pos = nul + 1;
  }
  return { fields };
}

export function noticeField(notice: NoticeFieldMap, code: string): string | undefined {
  for (const [c, v] of notice.fields) if (c === code) return v;
  return undefined;
}

/** ParameterStatus ('S'): name and value. */
export function readParameterStatus(buf: Buffer, start: number, end: number): [string, string] {
  const nameEnd = cstringEnd(buf, start + 5, end);
  const valueEnd = cstringEnd(buf, nameEnd + 1, end);
  return [buf.toString('utf8', start + 5, nameEnd), buf.toString('utf8', nameEnd + 1, valueEnd)];
}

/** Writes a notice or error frame with exactly these fields (masking rewrites their text). */
export function writeNoticeFrame(type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, notice: NoticeFieldMap): Buffer {
  let length = 4 + 1;
  const encoded = notice.fields.map(([code, value]) => {
    const bytes = Buffer.from(value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value, 'utf8');
    length += 1 + bytes.length + 1;
    return [code, bytes] as const;
  });
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = type;
  let pos = out.writeInt32BE(length, 1);
  for (const [code, bytes] of encoded) {
    out[pos++] = code.charCodeAt(0);
    pos += bytes.copy(out, pos);
    out[pos++] = 0;
  }
  out[pos] = 0;
  return out;
}
