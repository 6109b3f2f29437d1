import type { Detector, Span } from '../types.ts';

export interface RegexDetectorSpec {
  readonly type: string;
  /** Defaults to `type`. */
  readonly name?: string;
  readonly priority: number;
  /** Global regexes; each should start with a literal so V8 can skip ahead cheaply. */
  readonly patterns: readonly RegExp[];
  /** Rejects a match (checksum, context, entropy); `text` is the whole scanned string. */
  readonly accept?: (match: RegExpExecArray, text: string) => boolean;
  readonly normalize?: (value: string) => string;
  readonly openPrefix?: string;
  /** See Detector.signalled; true for every built-in regex detector. */
  readonly signalled?: boolean;
}

/** The common detector shape: regex candidates, then an optional validation of each. */
export function regexDetector(spec: RegexDetectorSpec): Detector {
  for (const re of spec.patterns) {
    if (!re.global) throw new TypeError(`detector ${spec.type}: pattern ${re.source} needs the g flag`);
  }
  const detector: Detector = {
    type: spec.type,
    name: spec.name ?? spec.type,
    priority: spec.priority,
    ...(spec.normalize ? { normalize: spec.normalize } : {}),
    ...(spec.openPrefix ? { openPrefix: spec.openPrefix } : {}),
    ...(spec.signalled ? { signalled: true } : {}),
    find(text: string, out: Span[]): void {
      const accept = spec.accept;
      for (const re of spec.patterns) {
        re.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = re.exec(text)) !== null) {
          if (m[0].length === 0) {
            re.lastIndex++;
            continue;
          }
          if (accept === undefined || accept(m, text)) {
            out.push({ start: m.index, end: m.index + m[0].length, detector });
          }
        }
      }
    },
  };
  return detector;
}

/** True when one of `words` (lower-case) ends within `window` chars before `index`. */
export function hasContextBefore(text: string, index: number, words: readonly string[], window: number): boolean {
  const before = text.slice(Math.max(0, index - window), index).toLowerCase();
  for (const w of words) {
    if (before.includes(w)) return true;
  }
  return false;
}
