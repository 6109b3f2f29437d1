import { celFunc, CelScalar, isCelList, isCelMap } from '@bufbuild/cel';
import { normalizedViews } from '../../masking/normalize.ts';

/**
 * Text as guardrails compare it: what a reader (or a model) reads, whatever code points spell it.
 * On top of the masking detectors' reading (src/masking/normalize.ts: compatibility forms,
 * character references and `\u` escapes decoded, invisible characters read both removed and as a
 * space) it folds case, accents and the Cyrillic and Greek letters that look like Latin ones, and
 * collapses runs of white space. Base64 and other encodings are not decoded: a guardrail sees the
 * text as sent, and a model that is told to decode something is a marker of its own.
 */

// Accents and other combining marks that sit on Latin, Greek and Cyrillic letters (and stack into
// "zalgo" text); the marks of scripts that need them (Devanagari vowel signs …) are kept.
const DIACRITICS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/g;

/**
 * Cyrillic and Greek letters (either case) that render like a Latin letter in common fonts, so
 * `іgnоrе` spelt with Cyrillic і, о and е reads `ignore`. Only look-alikes: most Russian or Greek
 * words keep letters with no Latin twin and so never fold into an English word.
 */
const LOOKALIKES: Readonly<Record<string, string>> = {
  а: 'a', е: 'e', і: 'i', ј: 'j', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', ѕ: 's', ԁ: 'd', һ: 'h', ӏ: 'l', ԛ: 'q', ԝ: 'w',
  А: 'a', В: 'b', Е: 'e', І: 'i', Ј: 'j', К: 'k', М: 'm', Н: 'h', О: 'o', Р: 'p', С: 'c', Т: 't', Х: 'x', У: 'y', Ѕ: 's',
  α: 'a', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', υ: 'u', χ: 'x',
  Α: 'a', Β: 'b', Ε: 'e', Ζ: 'z', Η: 'h', Ι: 'i', Κ: 'k', Μ: 'm', Ν: 'n', Ο: 'o', Ρ: 'p', Τ: 't', Υ: 'y', Χ: 'x',
  ɡ: 'g', ı: 'i',
};
const LOOKALIKE = new RegExp(`[${Object.keys(LOOKALIKES).join('')}]`, 'g');
const ASCII = /^[\x00-\x7f]*$/;
const SPACES = /\s+/gu;
const NON_WORD = /[^\p{L}\p{N}]+/gu;
// Scripts written without spaces between words: a term in them can only match as a substring.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
// Long terms also match with the spaces between their letters moved or gone (`wiretransfer`,
// `w i r e t r a n s f e r`), still from the start of a word to the end of one (`backdrop
// database` does not hold `drop database`). Short ones would match too much: `pay roll`, `the rapist`.
const COMPACT_MIN = 10;

function foldReading(text: string): string {
  let out = text;
  if (!ASCII.test(out)) {
    out = out.normalize('NFD').replace(DIACRITICS, '').replace(LOOKALIKE, (ch) => LOOKALIKES[ch] ?? ch);
    // Lower-casing can add a mark of its own (`İ` becomes `i` and a combining dot).
    out = out.toLowerCase().replace(DIACRITICS, '').normalize('NFC');
  } else {
    out = out.toLowerCase();
  }
  return out.replace(SPACES, ' ').trim();
}

function readingsOf(text: string, into: string[]): void {
  const views = normalizedViews(text);
  if (views === null) {
    into.push(foldReading(text));
    return;
  }
  const first = foldReading(views[0]!.text);
  into.push(first);
  for (const view of views.slice(1)) {
    const other = foldReading(view.text);
    if (other !== first) into.push(other);
  }
}

/** Every string of a value (keys too): a string, or tool arguments as CEL or JSON maps and lists, at any depth. */
function stringsOf(value: unknown): string[] {
  const out: string[] = [];
  // A stack rather than recursion: arguments nested thousands deep must not overflow it.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') out.push(item);
    else if (item === null || typeof item !== 'object' || ArrayBuffer.isView(item)) continue;
    else if (isCelMap(item) || item instanceof Map) {
      for (const [key, entry] of item as ReadonlyMap<unknown, unknown>) stack.push(entry, key);
    } else if (isCelList(item) || Array.isArray(item)) {
      stack.push(...[...(item as Iterable<unknown>)].reverse());
    } else {
      for (const [key, entry] of Object.entries(item)) stack.push(entry, key);
    }
  }
  return out;
}

/** A reading's letters and digits run together, and where its words start and end in them. */
interface Compact {
  readonly text: string;
  /** Bit 1: a word starts at this offset; bit 2: a word ends here. */
  readonly edges: Uint8Array;
}

function compactOf(reading: string): Compact {
  const words = reading.split(NON_WORD).filter((w) => w !== '');
  const text = words.join('');
  const edges = new Uint8Array(text.length + 1);
  let at = 0;
  for (const word of words) {
    edges[at]! |= 1;
    at += word.length;
    edges[at]! |= 2;
  }
  return { text, edges };
}

class Folded {
  readonly readings: readonly string[];
  #text: string | undefined;
  #words: string[] | undefined;
  #compact: Compact[] | undefined;

  constructor(readings: readonly string[]) {
    this.readings = readings;
  }

  get text(): string {
    return (this.#text ??= this.readings.join('\n'));
  }

  /** Each reading as its words, single-spaced and padded, so ` drop table ` finds whole words. */
  get words(): readonly string[] {
    return (this.#words ??= this.readings.map((r) => ` ${r.replace(NON_WORD, ' ').trim()} `));
  }

  get compact(): readonly Compact[] {
    return (this.#compact ??= this.readings.map(compactOf));
  }
}

// A decision calls these once per rule on the same value: the last string, and maps by identity.
let lastText: string | undefined;
let lastFolded: Folded | undefined;
const byObject = new WeakMap<object, Folded>();

function fold(value: unknown): Folded {
  if (typeof value === 'string') {
    if (value === lastText && lastFolded !== undefined) return lastFolded;
    const readings: string[] = [];
    readingsOf(value, readings);
    lastText = value;
    return (lastFolded = new Folded(readings));
  }
  if (value === null || typeof value !== 'object') return new Folded([]);
  const known = byObject.get(value);
  if (known !== undefined) return known;
  const readings: string[] = [];
  for (const text of stringsOf(value)) readingsOf(text, readings);
  const folded = new Folded(readings);
  byObject.set(value, folded);
  return folded;
}

/** The folded readings of a value, one per line (a string may have two; tool arguments one per string). */
export function foldedText(value: unknown): string {
  return fold(value).text;
}

interface Term {
  readonly words: string | null;
  /** Set for long terms (and terms in scripts without spaces, which match anywhere). */
  readonly compact: string | null;
  readonly anywhere: boolean;
  readonly plain: string;
}

const terms = new Map<string, Term>();
const TERM_CACHE = 1024;

/** A term folded as text is: its words (null when it has none, e.g. `<|im_start|>`) and, when long or unspaced, its letters alone. */
export function foldTerm(term: string): Term {
  let out = terms.get(term);
  if (out !== undefined) return out;
  const readings: string[] = [];
  readingsOf(term, readings);
  const plain = readings[0] ?? '';
  const split = plain.replace(NON_WORD, ' ').trim();
  const compact = split.replace(/ /g, '');
  const anywhere = UNSPACED.test(compact);
  out = { words: split === '' ? null : ` ${split} `, compact: anywhere || compact.length >= COMPACT_MIN ? compact : null, anywhere, plain };
  if (terms.size >= TERM_CACHE) terms.clear();
  terms.set(term, out);
  return out;
}

/**
 * Whether the value holds the term as whole words, read as guardrails read text: `drop database`
 * matches `DROP  database`, `drop_database` and `ｄｒｏｐ database`, not `dropdatabases`.
 */
export function containsTerm(value: unknown, term: string): boolean {
  const t = foldTerm(term);
  if (t.plain === '') return false;
  const folded = fold(value);
  for (let i = 0; i < folded.readings.length; i++) {
    if (t.words !== null ? folded.words[i]!.includes(t.words) : folded.readings[i]!.includes(t.plain)) return true;
    if (t.compact !== null && compactMatch(folded.compact[i]!, t.compact, t.anywhere)) return true;
  }
  return false;
}

function compactMatch(compact: Compact, term: string, anywhere: boolean): boolean {
  for (let at = compact.text.indexOf(term); at >= 0; at = compact.text.indexOf(term, at + 1)) {
    if (anywhere || ((compact.edges[at]! & 1) !== 0 && (compact.edges[at + term.length]! & 2) !== 0)) return true;
  }
  return false;
}

/** The CEL functions `foldedText(value)` and `containsTerm(value, term)`. */
export const FOLDED_TEXT_FUNCS = [
  celFunc('foldedText', [CelScalar.DYN], CelScalar.STRING, (value) => foldedText(value)),
  celFunc('containsTerm', [CelScalar.DYN, CelScalar.STRING], CelScalar.BOOL, (value, term) => containsTerm(value, term)),
];
