import type { Detector, Span } from '../types.ts';
import { characterClasses, shannonEntropy } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * `password=…`, `"client_secret": "…"`, `API_KEY: …` where the value looks random. The key
 * may be part of a longer name (`DB_PASSWORD`, `x-api-key`); the value is what gets masked.
 */
const ASSIGNMENT =
  /(?:pass(?:word|wd|phrase)?|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|bearer[_-]?token|private[_-]?key|token|credentials?)["']?\s*(?::=|=>|[:=])\s*["'`]{0,2}([^\s"'`,;)}\]<>]{8,200})/gi;
// The name of a URL query parameter (`?access_token=…&page=2`): its value ends at `&`.
const QUERY_PARAMETER = /[?&][\w.-]*$/;
// Templates and our own output: `${DB_PASSWORD}`, `<secret>`, `[REDACTED]`, `os.environ[...]`.
const PLACEHOLDER =
  /^(?:\$\{.*|\$[A-Za-z_]\w*|<.*|\[.*|\{\{.*|%\(?\w*\)?s?|\*+|x+|process\.env\..*|os\.environ.*|env\(.*|(?:true|false|null|none|undefined|required|optional|changeme|password|secret|redacted|example|placeholder)\b.*)$/i;

function looksSecret(v: string): boolean {
  if (PLACEHOLDER.test(v)) return false;
  return characterClasses(v) >= 2 && shannonEntropy(v) >= 3.0;
}

// Every keyword above contains one of these. Looking for them with indexOf in lower-cased text
// and running the regex only near a hit is several times faster than the regex alone.
const TRIGGERS = ['pass', 'pwd', 'secret', 'key', 'token', 'credential'];
const BEFORE = 24; // longest keyword text before its trigger (`refresh_token` → `token`)
const AFTER = 240; // trigger, operator, quotes and the longest value

function pushMatches(text: string, from: number, out: Span[]): void {
  let m: RegExpExecArray | null;
  while ((m = ASSIGNMENT.exec(text)) !== null) {
    const start = m.index + m[0].length - m[1]!.length;
    let value = m[1]!;
    if (value.includes('&') && QUERY_PARAMETER.test(text.slice(Math.max(0, m.index - 64), m.index))) value = value.slice(0, value.indexOf('&'));
    if (!looksSecret(value)) continue;
    out.push({ start: from + start, end: from + start + value.length, detector: passwordAssignmentDetector });
  }
}

export const passwordAssignmentDetector: Detector = {
  type: 'password_assignment',
  name: 'password_assignment',
  signalled: true,
  priority: PRIORITY.password_assignment,
  find(text: string, out: Span[]): void {
    const lower = text.toLowerCase();
    if (lower.length !== text.length) {
      // Some characters change length when lower-cased; offsets would no longer line up.
      ASSIGNMENT.lastIndex = 0;
      pushMatches(text, 0, out);
      return;
    }
    const hits: number[] = [];
    for (const t of TRIGGERS) {
      for (let i = lower.indexOf(t); i !== -1; i = lower.indexOf(t, i + t.length)) hits.push(i);
    }
    if (hits.length === 0) return;
    hits.sort((a, b) => a - b);
    let start = Math.max(0, hits[0]! - BEFORE);
    let end = Math.min(text.length, hits[0]! + AFTER);
    for (let k = 1; k <= hits.length; k++) {
      const h = hits[k];
      if (h !== undefined && h - BEFORE <= end) {
        end = Math.min(text.length, h + AFTER);
        continue;
      }
      ASSIGNMENT.lastIndex = 0;
      pushMatches(text.slice(start, end), start, out);
      if (h === undefined) break;
      start = h - BEFORE;
      end = Math.min(text.length, h + AFTER);
    }
  },
};
