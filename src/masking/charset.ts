/**
 * Text in a declared charset other than UTF-8: decoded to be scanned (TextDecoder knows the
 * WHATWG encodings), and encoded back when something was masked. Masks are ASCII and the rest
 * came from the charset, so single-byte charsets and UTF-16 round-trip exactly; multi-byte
 * legacy charsets (Shift_JIS, GB18030…) cannot be encoded here, and a masked body in one is
 * refused by the caller rather than sent in another charset than its header says.
 */

/** The text, or null when the charset is unknown or the bytes are not valid in it. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

const singleByte = new Map<string, Map<string, number> | null>();

/** char → byte for a charset whose 256 bytes decode to 256 distinct single characters; else null. */
function singleByteTable(charset: string): Map<string, number> | null {
  const cached = singleByte.get(charset);
  if (cached !== undefined) return cached;
  let table: Map<string, number> | null = new Map();
  try {
    const decoder = new TextDecoder(charset, { fatal: true });
    for (let b = 0; b < 256 && table !== null; b++) {
      const ch = decoder.decode(Uint8Array.of(b));
      if (ch.length !== 1 || table.has(ch)) table = null;
      else table.set(ch, b);
    }
  } catch {
    table = null;
  }
  singleByte.set(charset, table);
  return table;
}

/** `text` in `charset`, or null when this charset cannot be written (or `text` has a character it lacks). */
export function encodeCharset(text: string, charset: string): Buffer | null {
  let label: string;
  try {
    label = new TextDecoder(charset).encoding;
  } catch {
    return null;
  }
  if (label === 'utf-8') return Buffer.from(text, 'utf8');
  if (label === 'utf-16le') return Buffer.from(text, 'utf16le');
  if (label === 'utf-16be') return Buffer.from(text, 'utf16le').swap16();
  const table = singleByteTable(label);
  if (table === null) return null;
  const out = Buffer.allocUnsafe(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = table.get(text[i]!);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}
