import type { Detector, Span } from '../types.ts';
import { characterClasses, shannonEntropy } from '../validators.ts';
import { PRIORITY } from './priority.ts';

/**
 * `password=…`, `"client_secret": "…"`, `API_KEY: …` where the value looks random. The key
 * may be part of a longer name (`DB_PASSWORD`, `x-api-key`); the value is what gets masked.
 */
const ASSIGNMENT =
  /(?:pass(?:word|wd|phrase)?|pwd|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|bearer[_-]?token|private[_-]?key|token|credentials?)["']?\s*(?::=|=>|[:=])\s*["'`]?([^\s"'`,;&)}\]<>]{8,200})/gi;
// Templates and our own output: `${DB_PASSWORD}`, `<secret>`, `[REDACTED]`, `os.environ[...]`.
const PLACEHOLDER =
  /^(?:\$\{.*|\$[A-Za-z_]\w*|<.*|\[.*|\{\{.*|%\(?\w*\)?s?|\*+|x+|process\.env\..*|os\.environ.*|env\(.*|(?:true|false|null|none|undefined|required|optional|changeme|password|secret|redacted|example|placeholder)\b.*)$/i;

function looksSecret(v: string): boolean {
  if (PLACEHOLDER.test(v)) return false;
  return characterClasses(v) >= 2 && shannonEntropy(v) >= 3.0;
}

export const passwordAssignmentDetector: Detector = {
  type: 'password_assignment',
  name: 'password_assignment',
  priority: PRIORITY.password_assignment,
  find(text: string, out: Span[]): void {
    ASSIGNMENT.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = ASSIGNMENT.exec(text)) !== null) {
      const value = m[1]!;
      if (!looksSecret(value)) continue;
      const end = m.index + m[0].length;
      out.push({ start: end - value.length, end, detector: passwordAssignmentDetector });
    }
  },
};
