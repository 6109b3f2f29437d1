/**
 * A statement's shape: its text with the value of every number and plain quoted string replaced
 * by a marker of the literal's token type, everything else kept byte for byte. pgbench -M simple
 * and most ORMs inline values, so texts that differ in nothing but those values share one shape,
 * and one classification.
 *
 * Two texts of the same shape lex to the same PostgreSQL tokens (scan.l) but for the literals'
 * values, so the parser builds the same tree but for the constants' values. Anything this single
 * pass is not certain how every PostgreSQL version lexes gives up (null), and the text is then
 * cached by its exact value only: dollar quotes, E'' U&'' B'' X'' N'' strings, any backslash in a
 * string (its meaning hangs on standard_conforming_strings), hexadecimal, octal, binary,
 * underscored or exponent numbers, `.5` and `1.`, a `$` that is not a `$n` parameter,
 * unterminated quotes and comments, control characters other than whitespace, and non-ASCII.
 * Comments, quoted identifiers and `$n` parameters are kept verbatim.
 */

/** Markers cannot occur in a text that has a shape: NUL makes the pass give up. */
const INTEGER = '\0i'; // ICONST: a decimal integer that fits in int4
const BIG_INTEGER = '\0b'; // FCONST: a decimal integer beyond int4, kept as text by the lexer
const DECIMAL = '\0d'; // FCONST: digits.digits
const STRING = '\0s'; // SCONST: '…' with '' for a quote

const enum Ch {
  Tab = 9,
  LineFeed = 10,
  FormFeed = 12,
  CarriageReturn = 13,
  Space = 32,
  DoubleQuote = 34,
  Dollar = 36,
  Ampersand = 38,
  Quote = 39,
  OpenParen = 40,
  Star = 42,
  Dash = 45,
  Dot = 46,
  Slash = 47,
  Zero = 48,
  Nine = 57,
  A = 65,
  Z = 90,
  Backslash = 92,
  Underscore = 95,
  LowerA = 97,
  LowerZ = 122,
  Tilde = 126,
}

const isDigit = (c: number): boolean => c >= Ch.Zero && c <= Ch.Nine;
const isIdentStart = (c: number): boolean => (c >= Ch.LowerA && c <= Ch.LowerZ) || (c >= Ch.A && c <= Ch.Z) || c === Ch.Underscore;
const isIdentCont = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === Ch.Dollar;
/** Printable ASCII and the whitespace every PostgreSQL version agrees on (not \v, which older lexers do not skip). */
const isPlain = (c: number): boolean =>
  (c >= Ch.Space && c <= Ch.Tilde) || c === Ch.Tab || c === Ch.LineFeed || c === Ch.CarriageReturn || c === Ch.FormFeed;

/**
 * Where the next token stands relative to `float (`: the grammar itself refuses float(0) and
 * float(54) (opt_float), so that one integer's value decides whether the text parses, and it is
 * kept verbatim. Whitespace and comments do not move it.
 */
const enum FloatPrecision {
  None,
  AfterFloat,
  AfterParen,
}

/** The shape of `text`, or null when the pass cannot be sure; a text without literals is its own shape. */
export function sqlFingerprint(text: string): string | null {
  const n = text.length;
  let shape = '';
  let copied = 0;
  let i = 0;
  let precision = FloatPrecision.None;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isIdentStart(c)) {
      // keywords and identifiers, with any digits and $ they contain (t1, x_2, a$1)
      const start = i++;
      while (i < n && isIdentCont(text.charCodeAt(i))) i++;
      precision = isWord(text, start, i, 'float') ? FloatPrecision.AfterFloat : FloatPrecision.None;
      continue;
    }
    if (isDigit(c)) {
      const end = numberEnd(text, i);
      if (end < 0) return null;
      if (precision !== FloatPrecision.AfterParen) {
        shape += text.slice(copied, i) + numberMarker(text, i, end);
        copied = end;
      }
      i = end;
      precision = FloatPrecision.None;
      continue;
    }
    switch (c) {
      case Ch.Space:
      case Ch.Tab:
      case Ch.LineFeed:
      case Ch.CarriageReturn:
      case Ch.FormFeed:
        i++;
        continue;
      case Ch.Dash:
      case Ch.Slash:
        if (text.charCodeAt(i + 1) === (c === Ch.Dash ? Ch.Dash : Ch.Star)) {
          i = c === Ch.Dash ? lineCommentEnd(text, i) : blockCommentEnd(text, i);
          if (i < 0) return null;
          continue;
        }
        break;
      case Ch.Quote: {
        if (i > 0 && (isIdentCont(text.charCodeAt(i - 1)) || text.charCodeAt(i - 1) === Ch.Ampersand)) return null;
        const end = quotedEnd(text, i, Ch.Quote);
        if (end < 0) return null;
        shape += text.slice(copied, i) + STRING;
        copied = i = end;
        precision = FloatPrecision.None;
        continue;
      }
      case Ch.DoubleQuote:
        if (i > 0 && text.charCodeAt(i - 1) === Ch.Ampersand) return null; // U&"…" may take a UESCAPE '…'
        i = quotedEnd(text, i, Ch.DoubleQuote);
        if (i < 0) return null;
        precision = FloatPrecision.None;
        continue;
      case Ch.Dollar:
        // $n is a parameter; anything else is a dollar quote or an error
        if (!isDigit(text.charCodeAt(i + 1))) return null;
        i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        if (i < n && isIdentCont(text.charCodeAt(i))) return null;
        precision = FloatPrecision.None;
        continue;
      case Ch.Dot:
        if (isDigit(text.charCodeAt(i + 1))) return null; // .5, or t.5 (which lexes as t and .5)
        break;
      case Ch.OpenParen:
        i++;
        precision = precision === FloatPrecision.AfterFloat ? FloatPrecision.AfterParen : FloatPrecision.None;
        continue;
      default:
        if (!isPlain(c)) return null;
    }
    i++;
    precision = FloatPrecision.None;
  }
  return copied === 0 ? text : shape + text.slice(copied);
}

/** Whether text[start, end) is `lower` in any case (ASCII letters only, as the caller ensures). */
function isWord(text: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((text.charCodeAt(start + i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** End of a decimal integer or digits.digits starting at `start`; -1 for every other numeric form. */
function numberEnd(text: string, start: number): number {
  let i = start;
  while (isDigit(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === Ch.Dot) {
    if (!isDigit(text.charCodeAt(i + 1))) return -1; // 1. and 1..2
    i++;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  // 0x1F, 0o7, 0b1, 1_000, 1e5 and 1.5e3, trailing junk (123abc, an alias before PostgreSQL 15), 1.2.3
  const next = text.charCodeAt(i);
  return isIdentCont(next) || next === Ch.Dot ? -1 : i;
}

const INT4_MAX = '2147483647';

/** The lexer makes an integer that overflows int4 a numeric (FCONST): a different token, so a different shape. */
function numberMarker(text: string, start: number, end: number): string {
  let first = start;
  while (first < end && text.charCodeAt(first) === Ch.Zero) first++;
  const digits = text.slice(first, end);
  if (digits.includes('.')) return DECIMAL;
  if (digits.length < INT4_MAX.length) return INTEGER;
  return digits.length === INT4_MAX.length && digits <= INT4_MAX ? INTEGER : BIG_INTEGER;
}

/**
 * End (after the closing quote) of a '…' string or "…" identifier at `start`, where a doubled quote
 * stands for one; -1 if unterminated or not plain. A backslash in a string may be an escape
 * (E'' strings, standard_conforming_strings off): give up rather than guess.
 */
function quotedEnd(text: string, start: number, quote: Ch.Quote | Ch.DoubleQuote): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) {
      if (text.charCodeAt(i + 1) !== quote) return i + 1;
      i++;
    } else if ((quote === Ch.Quote && c === Ch.Backslash) || !isPlain(c)) return -1;
  }
  return -1;
}

/** `--` runs to the end of the line (\n or \r) or of the text. */
function lineCommentEnd(text: string, start: number): number {
  for (let i = start + 2; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === Ch.LineFeed || c === Ch.CarriageReturn) return i;
    if (!isPlain(c)) return -1;
  }
  return text.length;
}

/** `/* … *\/` nests, as in PostgreSQL (not in the SQL standard); -1 if unterminated. */
function blockCommentEnd(text: string, start: number): number {
  let depth = 1;
  for (let i = start + 2; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === Ch.Slash && text.charCodeAt(i + 1) === Ch.Star) {
      depth++;
      i++;
    } else if (c === Ch.Star && text.charCodeAt(i + 1) === Ch.Slash) {
      if (--depth === 0) return i + 2;
      i++;
    } else if (!isPlain(c)) return -1;
  }
  return -1;
}
