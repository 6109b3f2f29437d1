import type { Detector, Span } from '../types.ts';

export interface AnchoredDetectorSpec {
  readonly type: string;
  readonly priority: number;
  /**
   * A character every match contains at a fixed offset after one of `prefixes`. Found with
   * indexOf (memchr speed), it replaces a regex scan of the whole text: the few places it
   * occurs are checked against the prefixes, and only then is `pattern` run there.
   */
  readonly anchor: string;
  /** Literal starts of a match; each contains `anchor`, its first occurrence is the fixed offset. */
  readonly prefixes: readonly string[];
  /** Sticky (`y`) regex for a whole match, run at a prefix's start; may look behind it. */
  readonly pattern: RegExp;
  readonly accept?: (value: string) => boolean;
  readonly openPrefix?: string;
}

/** A detector for values with a recognisable literal start (`ghp_`, `sk-`, `eyJ`). */
export function anchoredDetector(spec: AnchoredDetectorSpec): Detector {
  if (!spec.pattern.sticky) throw new TypeError(`detector ${spec.type}: pattern needs the y flag`);
  const starts = spec.prefixes.map((prefix) => {
    const at = prefix.indexOf(spec.anchor);
    if (at === -1) throw new TypeError(`detector ${spec.type}: prefix ${prefix} lacks anchor ${spec.anchor}`);
    return { prefix, at, first: prefix.charCodeAt(0) };
  });
  const { anchor, pattern, accept } = spec;
  const detector: Detector = {
    type: spec.type,
    name: spec.type,
    priority: spec.priority,
    signalled: true,
    ...(spec.openPrefix ? { openPrefix: spec.openPrefix } : {}),
    find(text: string, out: Span[]): void {
      for (let p = text.indexOf(anchor); p !== -1; p = text.indexOf(anchor, p + 1)) {
        for (const { prefix, at, first } of starts) {
          const start = p - at;
          if (start < 0 || text.charCodeAt(start) !== first || !text.startsWith(prefix, start)) continue;
          pattern.lastIndex = start;
          const m = pattern.exec(text);
          if (m === null || (accept !== undefined && !accept(m[0]))) continue;
          out.push({ start, end: pattern.lastIndex, detector });
          // Anchors inside the match cannot start another one.
          p = pattern.lastIndex - 1;
          break;
        }
      }
    },
  };
  return detector;
}
