import type { Detector, Span } from '../types.ts';
import { characterClasses, shannonEntropy } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * `password=…`, `"client_secret": "…"`, `API_KEY: …` where the value looks random. The key
 * may be part of a longer name (`DB_PASSWORD`, `x-api-key`); the value is what gets masked.
 * Found from the `:` / `=` (indexOf is far cheaper than a case-insensitive keyword regex
 * over the whole text), then the key is checked behind it and the value read after it.
 */
const KEYWORD_BEFORE =
  /(?:pass(?:word|wd|phrase)?|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|bearer[_-]?token|private[_-]?key|token|credentials?)["']?[ \t]*$/i;
const VALUE_AFTER = /\s*["'`]{0,2}([^\s"'`,;)}\]<>]{8,200})/y;
// Every keyword above ends in one of these letters: a cheap test before the regex.
const KEYWORD_LAST = new Set([...'sdetynl'].map((c) => c.charCodeAt(0)));
// The name of a URL query parameter (`?access_token=…&page=2`): its value ends at `&`.
const QUERY_PARAMETER = /[?&][\w.-]*$/;
// Templates and our own output: `${DB_PASSWORD}`, `<secret>`, `[REDACTED]`, `os.environ[...]`.
const PLACEHOLDER =
  /^(?:\$\{.*|\$[A-Za-z_]\w*|<.*|\[.*|\{\{.*|%\(?\w*\)?s?|\*+|x+|process\.env\..*|os\.environ.*|env\(.*|(?:true|false|null|none|undefined|required|optional|changeme|password|secret|redacted|example|placeholder)\b.*)$/i;

function looksSecret(v: string): boolean {
  if (PLACEHOLDER.test(v)) return false;
  return characterClasses(v) >= 2 && shannonEntropy(v) >= 3.0;
}

/** Where the operator at `p` ends, or -1 when `p` is not an assignment operator (`==`, the `=` of `:=`). */
function operatorEnd(text: string, p: number): number {
  const c = text[p];
  const next = text[p + 1];
  if (c === ':') return next === '=' ? p + 2 : p + 1;
  if (text[p - 1] === ':' || text[p - 1] === '=' || next === '=') return -1;
  return next === '>' ? p + 2 : p + 1;
}

function keywordBefore(text: string, p: number): boolean {
  let k = p;
  while (k > 0 && (text[k - 1] === ' ' || text[k - 1] === '\t')) k--;
  if (k > 0 && (text[k - 1] === '"' || text[k - 1] === "'")) k--;
  if (k === 0 || !KEYWORD_LAST.has(text.charCodeAt(k - 1) | 0x20)) return false;
  return KEYWORD_BEFORE.test(text.slice(Math.max(0, p - 40), p));
}

function findAt(text: string, op: string, out: Span[]): void {
  for (let p = text.indexOf(op); p !== -1; p = text.indexOf(op, p + 1)) {
    const end = operatorEnd(text, p);
    if (end === -1 || !keywordBefore(text, p)) continue;
    VALUE_AFTER.lastIndex = end;
    const m = VALUE_AFTER.exec(text);
    if (m === null) continue;
    const start = VALUE_AFTER.lastIndex - m[1]!.length;
    let value = m[1]!;
    if (value.includes('&') && QUERY_PARAMETER.test(text.slice(Math.max(0, p - 64), p))) value = value.slice(0, value.indexOf('&'));
    if (looksSecret(value)) out.push({ start, end: start + value.length, detector: passwordAssignmentDetector });
  }
}

export const passwordAssignmentDetector: Detector = {
  type: 'password_assignment',
  name: 'password_assignment',
  signalled: true,
  priority: PRIORITY.password_assignment,
  find(text: string, out: Span[]): void {
    findAt(text, ':', out);
    findAt(text, '=', out);
  },
};
