import { RE2JS } from 're2js';

/**
 * User-written patterns (masking profiles' `patterns`, the high-risk-prompts pack) run on RE2's
 * engine, which never backtracks: its work grows linearly with the text, whatever the pattern, so
 * no pattern (nested quantifiers included) lets an agent's text stall the gateway. What RE2 cannot
 * run in linear time it refuses to compile; this says why, in words a config author can act on.
 */

/** Flags a masking pattern may carry (JavaScript letters) and their RE2 counterparts. */
const FLAG_BITS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  // RE2 reads text as code points already; `u` changes nothing there.
  u: 0,
};

// The engine's own messages name the construct; these say why it is refused and what to write.
const EXPLAINED: ReadonlyArray<readonly [RegExp, string]> = [
  [/`\(\?<[=!]/, 'look-behind ((?<=…), (?<!…)) needs backtracking; match the surrounding text instead'],
  [/`\(\?[=!]/, 'look-ahead ((?=…), (?!…)) needs backtracking; match the surrounding text instead'],
  [/invalid escape sequence: `\\(?:[1-9]|k)/, 'a back-reference (\\1, \\k<name>) needs backtracking and has no linear-time form'],
  [/invalid nested repetition operator/, 'a quantifier on a quantifier (a**, possessive a++) is not RE2 syntax; one quantifier is already linear'],
  [/invalid repeat count/, 'a repeat count above 1000 is beyond RE2\'s limit; use + or * or a smaller bound'],
];

function explain(engineMessage: string): string {
  for (const [shape, why] of EXPLAINED) {
    if (shape.test(engineMessage)) return why;
  }
  return engineMessage.replace(/^error parsing regexp: /, '');
}

/** Why RE2 refuses `pattern` (with JavaScript-style `flags`), or null when it compiles. */
export function linearRegexProblem(pattern: string, flags = ''): string | null {
  try {
    compileLinearRegex(pattern, flags);
    return null;
  } catch (err) {
    return explain((err as Error).message);
  }
}

/** Compiles for RE2JS; throws the engine's error when the pattern is not RE2. */
export function compileLinearRegex(pattern: string, flags = ''): RE2JS {
  let bits = 0;
  for (const flag of flags) {
    const bit = FLAG_BITS[flag];
    if (bit === undefined) throw new Error(`unsupported flag "${flag}" (use i, m, s or u)`);
    bits |= bit;
  }
  return RE2JS.compile(pattern, bits);
}
