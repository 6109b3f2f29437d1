import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

// Dashed or spaced 3-2-4. Nine plain digits are an SSN only after an SSN-ish word. Digits are
// spelled out rather than `\d{3}` so that V8 can skip ahead (several times faster).
const GROUPED = /(?<![\w\-.])(\d\d\d)([- ])(\d\d)\2(\d\d\d\d)(?![\w]|[-.]\d)/g;
const PLAIN = /(?<![\w\-.])(\d\d\d)(\d\d)(\d\d\d\d)(?![\w]|[-.]\d)/g;
const PLAIN_CONTEXT = /(?:ssn|social security|soc\.? ?sec|taxpayer id|\btin\b)[^\n]{0,24}$/i;

/** Numbers the SSA never issues: area 000, 666, 900–999; group 00; serial 0000; and the famous misused ones. */
export function validSsnParts(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area[0] === '9') return false;
  if (group === '00' || serial === '0000') return false;
  const whole = `${area}${group}${serial}`;
  return whole !== '078051120' && whole !== '219099999';
}

export const usSsnDetector: Detector = {
  type: 'us_ssn',
  name: 'us_ssn',
  signalled: true,
  priority: PRIORITY.us_ssn,
  normalize: (v) => v.replace(/\D/g, ''),
  find(text: string, out: Span[]): void {
    let m: RegExpExecArray | null;
    GROUPED.lastIndex = 0;
    while ((m = GROUPED.exec(text)) !== null) {
      if (validSsnParts(m[1]!, m[3]!, m[4]!)) out.push({ start: m.index, end: m.index + m[0].length, detector: usSsnDetector });
    }
    PLAIN.lastIndex = 0;
    while ((m = PLAIN.exec(text)) !== null) {
      if (!validSsnParts(m[1]!, m[2]!, m[3]!)) continue;
      if (PLAIN_CONTEXT.test(text.slice(Math.max(0, m.index - 48), m.index))) {
        out.push({ start: m.index, end: m.index + m[0].length, detector: usSsnDetector });
      }
    }
  },
};
