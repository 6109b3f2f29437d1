/**
 * Counts the backtracking work V8's regex engine does for each built-in detector on adversarial
 * text, and prints it as JSON lines. Run as a child of test/masking/builtin-linearity.test.ts:
 *
 *   node --allow-natives-syntax --no-regexp-optimization --import tsx <this file>
 *
 * How work is counted: every RegExp exec is re-run on a copy of its regex made with V8's
 * backtrack limit (%NewRegExpWithBacktrackLimit), searching for the smallest limit under which
 * the copy completes. The copy is the original pattern with one extra alternative that always
 * matches where the original would have given up (the end of the text for a scan, the start
 * position for a sticky regex), so "completes" means "did all the work the original did". With
 * --no-regexp-optimization every character a quantifier consumes and gives back is counted (the
 * optimised greedy loops otherwise hide it). Counting, not timing: the figures are the same on
 * any machine. An exec over `cap` is stopped there, so a catastrophic pattern ends the run quickly.
 */
import { BUILTIN_DETECTORS } from '../../../src/masking/detectors/registry.ts';
import { dictionaryDetector } from '../../../src/masking/detectors/dictionary.ts';
import type { Detector, Span } from '../../../src/masking/types.ts';
import { regexDetector } from '../../../src/masking/detectors/regex-detector.ts';
import { ADVERSARIAL_FAMILIES, GENERIC_UNITS, type Family } from './adversarial-inputs.ts';

type Limited = (source: string, flags: string, limit: number) => RegExp;
// Natives syntax inside a Function body: the TypeScript compiler never sees the `%`.
const limited = new Function('source', 'flags', 'limit', 'return %NewRegExpWithBacktrackLimit(source, flags, limit)') as Limited;

const GROWTH = 1.1;
const LEVELS: number[] = [];
for (let l = 1; l < 2 ** 31; l = Math.max(l + 1, Math.ceil(l * GROWTH))) LEVELS.push(l);

const originalExec = RegExp.prototype.exec;
const copies = new Map<string, RegExp[]>();
let counting = false;
let work = 0;
let overCap = 0;
let capPerChar = 256;

function copyAt(re: RegExp, level: number): RegExp {
  const key = `${re.flags}/${re.source}`;
  let list = copies.get(key);
  if (list === undefined) copies.set(key, (list = []));
  let copy = list[level];
  if (copy === undefined) {
    const source = re.sticky ? `(?:${re.source})|` : `(?:${re.source})|(?![\\s\\S])`;
    copy = list[level] = limited(source, re.flags, LEVELS[level]!);
  }
  return copy;
}

class OverCap extends Error {}

function measure(re: RegExp, text: string): void {
  if ((re.global || re.sticky) && re.lastIndex > text.length) return;
  const completes = (level: number): boolean => {
    const copy = copyAt(re, level);
    copy.lastIndex = re.lastIndex;
    return originalExec.call(copy, text) !== null;
  };
  const cap = capPerChar * text.length + 4096;
  let top = LEVELS.findIndex((l) => l >= cap);
  if (top === -1) top = LEVELS.length - 1;
  let lo = -1;
  let hi = 0;
  while (hi < top && !completes(hi)) {
    lo = hi;
    hi = Math.min(top, hi * 2 + 1);
  }
  if (hi === top && !completes(top)) {
    overCap++;
    work += LEVELS[top]!;
    // The original would run as long as the cap let it not: stop the detector here.
    throw new OverCap();
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (completes(mid)) hi = mid;
    else lo = mid;
  }
  work += LEVELS[hi]!;
}

RegExp.prototype.exec = function exec(this: RegExp, text: string): RegExpExecArray | null {
  if (counting) {
    counting = false;
    try {
      measure(this, String(text));
    } finally {
      counting = true;
    }
  }
  return originalExec.call(this, text);
};

function workOf(detector: Detector, text: string): { work: number; overCap: number; found: number } {
  const out: Span[] = [];
  work = 0;
  overCap = 0;
  counting = true;
  try {
    detector.find(text, out);
  } catch (err) {
    if (!(err instanceof OverCap)) throw err;
  } finally {
    counting = false;
  }
  return { work, overCap, found: out.length };
}

const build = (family: Family, size: number): string => {
  const body = family.unit.repeat(Math.ceil(size / family.unit.length));
  return `${family.head ?? ''}${body}${family.tail ?? ''}`;
};

const HALF = Number(process.env.WORK_HALF ?? (process.env.WORK_ONLY === 'controls' ? 2048 : 512 * 1024));
// compromise (person) reads bounded windows, so its work is linear by construction; at 1 MiB its
// many regexes, each re-run for the count, would take minutes, so it is counted on 16 and 32 KiB.
const HALF_FOR: Readonly<Record<string, number>> = { person: 16 * 1024 };
const sized = (name: string, detector: Detector, families: readonly Family[]) => {
  const half = HALF_FOR[name] ?? HALF;
  for (const family of families) {
    const small = workOf(detector, build(family, half));
    const large = workOf(detector, build(family, 2 * half));
    process.stdout.write(`${JSON.stringify({ detector: name, family: family.name, chars: [half, 2 * half], small, large })}\n`);
  }
};

const generic: Family[] = GENERIC_UNITS.map((unit) => ({ name: `run of ${JSON.stringify(unit)}`, unit }));
const only = process.env.WORK_ONLY;

if (only === 'controls') {
  // The measure must see what it is meant to catch: a quadratic scan and an exponential one.
  // Small texts and a high cap, so the quadratic one completes and shows its growth.
  capPerChar = 4096;
  sized('control: quadratic [a-z]+@', regexDetector({ type: 'q', priority: 1, patterns: [/[a-z]+@/g] }), [{ name: 'run of "a"', unit: 'a' }]);
  sized('control: exponential (a+)+b', regexDetector({ type: 'e', priority: 1, patterns: [/(?:a+)+b/g] }), [{ name: 'run of "a"', unit: 'a' }]);
} else {
  const detectors: Array<[string, Detector]> = Object.entries(BUILTIN_DETECTORS);
  // Dictionaries are user-supplied terms compiled to one JavaScript regex of literals.
  const terms = Array.from({ length: 64 }, (_, i) => 'a'.repeat(i + 1)).concat(['Bluebird', 'Bluebird II', 'Night Jar']);
  detectors.push(['dictionary (64 nested terms)', dictionaryDetector('codename', terms, false)]);
  for (const [name, detector] of detectors) {
    if (only !== undefined && only !== name) continue;
    sized(name, detector, [...generic, ...(ADVERSARIAL_FAMILIES[name] ?? [])]);
  }
}
