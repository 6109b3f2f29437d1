/**
 * The text detectors see: what a person or a model reads, whatever code points spell it.
 * Compatibility forms fold (NFKC: fullwidth `４`, mathematical `𝐬𝐤`, no-break spaces), digits
 * of every script become ASCII digits, HTML/XML character references, `\u` escapes and
 * percent-encoding decode (`&#52;`, `&amp;`, `\u0034`, `%34`), and invisible formatting
 * characters (zero-width space and joiners, soft hyphen, BOM, bidi controls, variation
 * selectors) either vanish or separate, since a reader may see either.
 *
 * Every character of a view keeps the original range it came from, so a value found in the
 * view is masked in the original text and everything around it stays as it was sent.
 */

/** One reading of a text, with the original range behind each of its UTF-16 units. */
export interface NormalizedView {
  readonly text: string;
  /** Original offset where the source of view unit i starts. */
  readonly starts: Int32Array;
  /** Original offset where the source of view unit i ends. */
  readonly ends: Int32Array;
}

// Anything other than plain ASCII (or `%`, `&` and `\`, which may start an escape or a reference) may read differently.
const PLAIN = /^[\x00-\x24\x27-\x5B\x5D-\x7F]*$/;
const SPECIAL = /[^\x00-\x24\x27-\x5B\x5D-\x7F]/g;
const INVISIBLE = /^(?:[\p{Cf}\u034F\u115F\u1160\u3164\uFFA0\uFE00-\uFE0F]|[\u{E0100}-\u{E01EF}])$/u;
const HAS_INVISIBLE = /[\p{Cf}\u034F\u115F\u1160\u3164\uFFA0\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const REFERENCE = /&(?:#[xX]([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|([A-Za-z]{2,6}));?/y;
const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', shy: '', zwsp: '', zwj: '', zwnj: '' };
const DIGIT = /\p{Nd}/u;
const OTHER_DIGIT = /(?![0-9])\p{Nd}/u;
const MAY_REFER = /&(?:#[xX]?[0-9A-Fa-f]|[A-Za-z]{2,6};)|\\u[0-9A-Fa-f]{4}|%[0-9A-Fa-f]{2}/;
const PERCENT = /(?:%[0-9A-Fa-f]{2})+/y;
const ESCAPE = /\\u([0-9A-Fa-f]{4})(?:\\u([dD][c-fC-F][0-9A-Fa-f]{2}))?/y;

let digitZeros: Set<number> | null = null;

/** The zero of every run of ten decimal digits Unicode defines (computed once, on first need). */
function zeros(): Set<number> {
  if (digitZeros !== null) return digitZeros;
  const out = new Set<number>();
  let run = 0;
  for (let cp = 0x80; cp <= 0x1fbff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (DIGIT.test(String.fromCodePoint(cp))) {
      if (run % 10 === 0) out.add(cp);
      run++;
    } else {
      run = 0;
    }
  }
  digitZeros = out;
  return out;
}

function asciiDigit(cp: number): string | null {
  const z = zeros();
  for (let k = 0; k <= 9; k++) if (z.has(cp - k)) return String(k);
  return null;
}

const folded = new Map<string, string>();
const FOLD_CACHE = 4096;

/** What one code point reads as, invisibles kept (the caller decides about them). */
function fold(ch: string): string {
  let out = folded.get(ch);
  if (out !== undefined) return out;
  out = ch.normalize('NFKC');
  if (DIGIT.test(out)) {
    let digits = '';
    for (const c of out) digits += c >= '0' && c <= '9' ? c : (asciiDigit(c.codePointAt(0)!) ?? c);
    out = digits;
  }
  if (folded.size >= FOLD_CACHE) folded.clear();
  folded.set(ch, out);
  return out;
}

function reference(text: string, at: number): { value: string; length: number } | null {
  REFERENCE.lastIndex = at;
  const m = REFERENCE.exec(text);
  if (m === null) return null;
  if (m[3] !== undefined) {
    const named = NAMED[m[3].toLowerCase()];
    return named === undefined || !m[0].endsWith(';') ? null : { value: named, length: m[0].length };
  }
  const cp = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return { value: String.fromCodePoint(cp), length: m[0].length };
}

/**
 * A JSON/JavaScript `\uXXXX` escape (a surrogate pair as one): JSON inside text, NDJSON lines
 * and JSON held in a JSON string are read by whoever parses them, so their escapes are read too.
 */
function escape(text: string, at: number): { value: string; length: number } | null {
  ESCAPE.lastIndex = at;
  const m = ESCAPE.exec(text);
  if (m === null) return null;
  const high = parseInt(m[1]!, 16);
  if (m[2] !== undefined && high >= 0xd800 && high <= 0xdbff) return { value: String.fromCharCode(high, parseInt(m[2], 16)), length: 12 };
  if (high >= 0xd800 && high <= 0xdfff) return null;
  return { value: String.fromCharCode(high), length: 6 };
}

class Builder {
  text = '';
  starts: number[] = [];
  ends: number[] = [];

  add(piece: string, start: number, end: number): void {
    this.text += piece;
    for (let k = 0; k < piece.length; k++) {
      this.starts.push(start);
      this.ends.push(end);
    }
  }

  view(): NormalizedView {
    return { text: this.text, starts: Int32Array.from(this.starts), ends: Int32Array.from(this.ends) };
  }
}

/**
 * The readings of `text` detectors should scan, or null when it reads as it is written (plain
 * ASCII: the common case costs one test). With invisible characters there are two readings:
 * removed (`sk-pro\u200Bj-…` is one value) and as separators (`x\u200Bsk-…` starts one).
 */
export function normalizedViews(text: string): NormalizedView[] | null {
  if (PLAIN.test(text)) return null;
  // Most text (accents, CJK, `&` in a query string) reads as written: native checks say so without a walk.
  if (!MAY_REFER.test(text) && !HAS_INVISIBLE.test(text) && !OTHER_DIGIT.test(text) && text.normalize('NFKC') === text) return null;
  const joined = new Builder();
  const split = HAS_INVISIBLE.test(text) ? new Builder() : null;
  let changed = false;
  let pos = 0;
  SPECIAL.lastIndex = 0;
  for (;;) {
    SPECIAL.lastIndex = pos;
    const m = SPECIAL.exec(text);
    const at = m === null ? text.length : m.index;
    if (at > pos) {
      const run = text.slice(pos, at);
      for (let i = pos; i < at; i++) {
        joined.starts.push(i);
        joined.ends.push(i + 1);
        split?.starts.push(i);
        split?.ends.push(i + 1);
      }
      joined.text += run;
      if (split) split.text += run;
    }
    if (at >= text.length) break;
    let piece: string;
    let length: number;
    if (text.charCodeAt(at) === 38) {
      const ref = reference(text, at);
      piece = ref?.value ?? '&';
      length = ref?.length ?? 1;
    } else if (text.charCodeAt(at) === 37) {
      PERCENT.lastIndex = at;
      const run = PERCENT.exec(text)?.[0];
      // A URL or form value is read decoded by whoever follows or parses it.
      piece = run === undefined ? '%' : Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8');
      length = run?.length ?? 1;
    } else if (text.charCodeAt(at) === 92) {
      const esc = escape(text, at);
      piece = esc?.value ?? '\\';
      length = esc?.length ?? 1;
    } else {
      const cp = text.codePointAt(at)!;
      length = cp > 0xffff ? 2 : 1;
      piece = text.slice(at, at + length);
    }
    let read = '';
    let separated = '';
    for (const ch of piece) {
      const invisible = INVISIBLE.test(ch);
      read += invisible ? '' : fold(ch);
      separated += invisible ? ' ' : fold(ch);
    }
    if (read !== text.slice(at, at + length)) changed = true;
    joined.add(read, at, at + length);
    split?.add(separated, at, at + length);
    pos = at + length;
  }
  if (!changed) return null;
  return split === null ? [joined.view()] : [joined.view(), split.view()];
}

/** The text as read (the first view), for a value's canonical form. */
export function readableText(text: string): string {
  const views = normalizedViews(text);
  return views === null ? text : views[0]!.text;
}
