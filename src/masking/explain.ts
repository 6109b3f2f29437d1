import { type EntityFamily, familyOf } from './entity-types.ts';
import type { Finding, MaskProfile } from './types.ts';

export interface ExplainedFinding extends Finding {
  /** The raw value. Only for a local dry run (`gatehouse mask test`); never record it. */
  readonly original: string;
  readonly family: EntityFamily | null;
}

export interface MaskingExplanation {
  readonly text: string;
  readonly findings: readonly ExplainedFinding[];
}

/** What `profile` would mask in `text`, by which detector, with the original values alongside. */
export function explainMasking(profile: MaskProfile, text: string): MaskingExplanation {
  const result = profile.maskText(text);
  return {
    text: result.text,
    findings: result.findings.map((f) => ({ ...f, original: text.slice(f.start, f.end), family: familyOf(f.type) })),
  };
}
