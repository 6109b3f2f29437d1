import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveOverlaps } from '../../../src/masking/scanner.ts';
import type { Detector, Span } from '../../../src/masking/types.ts';

/** `text` and the substrings the detector must report, in order (empty: a must-not-match case). */
export type DetectorCase = readonly [text: string, found: readonly string[]];

function label(text: string): string {
  const oneLine = JSON.stringify(text);
  return oneLine.length > 70 ? `${oneLine.slice(0, 67)}…"` : oneLine;
}

/** One test per case: what `detector` finds in the text, as substrings. */
export function detectorTable(detector: Detector, cases: readonly DetectorCase[]): void {
  for (const [text, found] of cases) {
    test(`${detector.name}: ${label(text)} → ${found.length === 0 ? 'nothing' : found.length}`, () => {
      const out: Span[] = [];
      detector.find(text, out);
      const spans = resolveOverlaps(out);
      assert.deepEqual(
        spans.map((s) => text.slice(s.start, s.end)),
        found,
      );
      for (const s of spans) assert.equal(s.detector.type, detector.type);
    });
  }
}
