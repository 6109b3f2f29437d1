import { normalizedViews } from './normalize.ts';
import type { Detector, Span } from './types.ts';

/** Runs a fixed set of detectors over a text and returns non-overlapping spans in order. */
export interface Scanner {
  readonly detectors: readonly Detector[];
  scan(text: string): Span[];
}

function better(a: Span, b: Span): boolean {
  if (a.detector.priority !== b.detector.priority) return a.detector.priority > b.detector.priority;
  return a.end - a.start > b.end - b.start;
}

/** Keeps, of overlapping spans, the higher priority (then longer) one. Sorts in place. */
export function resolveOverlaps(spans: Span[]): Span[] {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Span[] = [];
  for (const s of spans) {
    const last = kept[kept.length - 1];
    if (last === undefined || s.start >= last.end) kept.push(s);
    else if (better(s, last)) kept[kept.length - 1] = s;
  }
  return kept;
}

const SIGNAL = /[0-9A-Z@:=_+\/-]/;

export function createScanner(detectors: readonly Detector[]): Scanner {
  const list = [...detectors];
  const gated = list.every((d) => d.signalled === true);
  const find = (text: string, out: Span[]): void => {
    if (text.length === 0 || (gated && !SIGNAL.test(text))) return;
    for (const d of list) d.find(text, out);
  };
  return {
    detectors: list,
    scan(text: string): Span[] {
      const out: Span[] = [];
      // Detectors read the text as a person or model would (see normalize.ts); what they find
      // is mapped back onto the original code units, which are what gets masked.
      const views = normalizedViews(text);
      if (views === null) {
        find(text, out);
        return resolveOverlaps(out);
      }
      for (const view of views) {
        const found: Span[] = [];
        find(view.text, found);
        for (const s of found) {
          if (s.end <= s.start) continue;
          out.push({ start: view.starts[s.start]!, end: view.ends[s.end - 1]!, detector: s.detector });
        }
      }
      return resolveOverlaps(out);
    },
  };
}
