import type { MaskStyle } from './config.ts';
import { readableText } from './normalize.ts';
import type { Scanner } from './scanner.ts';
import type { Styler } from './styler.ts';
import type { Detector, Finding, Span } from './types.ts';

/**
 * What every masking surface (text, JSON, rows, streams) shares: the profile's scanner, the
 * style of each detector, and how a span turns into replacement text and a finding.
 */
// Short strings repeat across bodies and events (keys, ids, model names, enum values).
const CLEAN_MEMO_CHARS = 128;
const CLEAN_MEMO_SIZE = 8192;

export class MaskEngine {
  /** Short strings a scan found nothing in: scanning is a pure function of the text, so they are skipped. */
  private readonly clean = new Set<string>();

  constructor(
    readonly scanner: Scanner,
    private readonly styles: ReadonlyMap<Detector, MaskStyle>,
    readonly styler: Styler,
  ) {}

  /** Spans in `text`, remembering short texts that have none. */
  scan(text: string): Span[] {
    const short = text.length <= CLEAN_MEMO_CHARS;
    if (short && this.clean.has(text)) return [];
    const spans = this.scanner.scan(text);
    if (short && spans.length === 0) {
      if (this.clean.size >= CLEAN_MEMO_SIZE) this.clean.clear();
      this.clean.add(text);
    }
    return spans;
  }

  styleOf(detector: Detector): MaskStyle {
    return this.styles.get(detector) ?? 'redact';
  }

  replacement(detector: Detector, written: string): string {
    // Styles see the value as read, so `４１１１…` and `4111…` get one pseudonym and one `partial` tail.
    const value = readableText(written);
    const canonical = detector.normalize ? detector.normalize(value) : value;
    return this.styler.replace(detector.type, this.styleOf(detector), value, canonical);
  }

  /**
   * Masked text[from, to). `spans` must be sorted, non-overlapping and inside the range;
   * findings get offsets shifted by `base` (the stream position of `from`, minus `from`).
   */
  render(text: string, spans: readonly Span[], from: number, to: number, base: number, findings: Finding[], path?: string): string {
    if (spans.length === 0) return from === 0 && to === text.length ? text : text.slice(from, to);
    let out = '';
    let pos = from;
    for (const s of spans) {
      const replacement = this.replacement(s.detector, text.slice(s.start, s.end));
      out += text.slice(pos, s.start) + replacement;
      pos = s.end;
      const finding: Finding = {
        type: s.detector.type,
        detector: s.detector.name,
        start: s.start + base,
        end: s.end + base,
        replacement,
        ...(path === undefined ? {} : { path }),
      };
      findings.push(finding);
    }
    return out + text.slice(pos, to);
  }

  maskText(text: string, findings: Finding[], path?: string): { text: string; spans: readonly Span[] } {
    const spans = this.scan(text);
    return { text: this.render(text, spans, 0, text.length, 0, findings, path), spans };
  }
}
