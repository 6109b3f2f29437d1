import { MaskingError } from '../errors.ts';
import { PRIVATE_KEY_FOOTER as PEM_FOOTER, PRIVATE_KEY_HEADER as PEM_HEADER } from './detectors/private-key.ts';
import type { MaskEngine } from './engine.ts';
import type { Detector, Finding, Span, TextStreamMasker } from './types.ts';

export interface TextStreamOptions {
  /** The most text held back (see `holdBack` in the profile config). */
  readonly holdBack: number;
  /** Person names are enabled: Title-case words may start a multi-word name, so hold them. */
  readonly titleCase: boolean;
  /** A custom pattern or dictionary term may span whitespace: always hold the last `holdBack` chars. */
  readonly fixedWindow: boolean;
  /** The private_key detector, when enabled: its blocks are suppressed from header to footer. */
  readonly privateKey: Detector | null;
  /** Detectors with an `openPrefix`, longest prefix first. */
  readonly openEnded: readonly Detector[];
}

/** Released text kept (never re-emitted) so detectors can still see what came just before. */
const CONTEXT_CHARS = 64;
// What a suppressed over-long value may continue with: base64/base64url, JWT dots, URL escapes.
const TOKEN_CHAR = /[A-Za-z0-9_.+\/=~%-]/;
// Longer than any PEM footer, so a footer split across chunks is still found.
const PEM_TAIL = 64;

const enum Mode {
  Normal,
  /** Inside an over-long secret: drop token characters until the first other one. */
  Run,
  /** Inside a private key block: drop everything up to the footer. */
  Pem,
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function openPrefixRegex(detectors: readonly Detector[]): RegExp | null {
  if (detectors.length === 0) return null;
  const groups = detectors.map((d) => `((?:${d.openPrefix}))`).join('|');
  return new RegExp(`(?<![A-Za-z0-9_])(?:${groups})[A-Za-z0-9_.+/=~%-]*$`);
}

/**
 * Masks text that arrives in pieces. A piece is released as soon as nothing in it can still
 * turn out to be part of a value: the current whitespace-free run is held until it ends,
 * and so are the runs before it that could belong to a spaced value (`+44 20 7946 0958`,
 * `4111 1111 1111 1111`, `GB82 WEST …`) — runs without lower-case letters. Nothing is
 * held beyond `holdBack` chars: an over-long run that starts like an unbounded secret
 * (a JWT, `sk-proj-…`) is replaced by its label and dropped up to its end; any other is
 * released, keeping a tail. Text already released is never scanned again except for a
 * short context tail that detectors read behind a match.
 */
export class TextStream implements TextStreamMasker {
  private held = '';
  private context = '';
  /** Stream offset of held[0]. */
  private offset = 0;
  private mode = Mode.Normal;
  private suppressed: { detector: Detector; start: number; replacement: string } | null = null;
  private ended = false;
  private readonly openPrefix: RegExp | null;
  readonly findings: Finding[] = [];

  constructor(
    private readonly engine: MaskEngine,
    private readonly options: TextStreamOptions,
  ) {
    this.openPrefix = openPrefixRegex(options.openEnded);
  }

  push(text: string): string {
    if (this.ended) throw new MaskingError('text stream used after end() or a failure');
    if (text.length === 0) return '';
    this.held += text;
    return this.guarded(false);
  }

  end(): string {
    if (this.ended) throw new MaskingError('text stream used after end() or a failure');
    const out = this.guarded(true);
    this.ended = true;
    return out;
  }

  private guarded(final: boolean): string {
    try {
      return this.drain(final);
    } catch (err) {
      // State may be half-updated: refuse to continue rather than risk releasing raw text.
      this.ended = true;
      throw err instanceof MaskingError ? err : new MaskingError('streaming masker failed', { cause: err });
    }
  }

  private drain(final: boolean): string {
    let out = '';
    for (;;) {
      if (this.mode !== Mode.Normal && !this.consumeSuppressed(final)) return out;
      const pem = this.options.privateKey === null ? null : this.openPemHeader();
      if (pem === null) return out + this.releaseNormal(final);
      out += this.releaseUpTo(pem.start, this.scanHeld(), true);
      out += this.suppress(this.options.privateKey!, pem.end - pem.start, Mode.Pem);
    }
  }

  /** The first private-key header with no footer after it. */
  private openPemHeader(): { start: number; end: number } | null {
    if (this.held.indexOf('-----BEGIN ') === -1) return null;
    PEM_HEADER.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = PEM_HEADER.exec(this.held)) !== null) {
      PEM_FOOTER.lastIndex = PEM_HEADER.lastIndex;
      if (!PEM_FOOTER.test(this.held)) return { start: m.index, end: PEM_HEADER.lastIndex };
    }
    return null;
  }

  private releaseNormal(final: boolean): string {
    const len = this.held.length;
    let cut = final ? len : this.safeCut();
    const overCap = !final && len - cut > this.options.holdBack;
    if (cut === 0 && !overCap) return '';
    const spans = this.scanHeld();
    if (overCap) {
      const claim = this.claimOpenEnded(cut);
      if (claim !== null) {
        const out = this.releaseUpTo(claim.start, spans, true);
        return out + this.suppress(claim.detector, this.held.length, Mode.Run);
      }
      // An ordinary long run (minified JSON, a blob): release all but a tail, cutting where
      // a token ends (`","`) when there is one, so that a value is not cut in two.
      const forced = len - (this.options.holdBack >> 1);
      let boundary = forced;
      while (boundary > cut && TOKEN_CHAR.test(this.held[boundary - 1]!)) boundary--;
      cut = Math.max(cut, boundary > cut ? boundary : forced);
    }
    return this.releaseUpTo(cut, spans);
  }

  /** Spans in context + held, with offsets relative to held (context spans start below 0). */
  private scanHeld(): Span[] {
    const ctx = this.context.length;
    const spans = this.engine.scanner.scan(this.context + this.held);
    for (const s of spans) {
      s.start -= ctx;
      s.end -= ctx;
    }
    return spans;
  }

  /**
   * Emits held[0, cut) masked. A span that crosses `cut` is held whole for later, unless it
   * starts at held[0] or before (in released text): then it is released through its end,
   * so that the stream always makes progress. A `hard` cut (where suppression starts) is
   * exact: a span crossing it is masked up to it.
   */
  private releaseUpTo(cut: number, spans: readonly Span[], hard = false): string {
    const inRange: Span[] = [];
    for (const s of spans) {
      if (s.end <= 0) continue;
      if (s.start >= cut) break;
      if (s.end > cut) {
        if (hard) {
          s.end = cut;
        } else if (s.start > 0) {
          cut = s.start;
          break;
        } else {
          cut = s.end;
        }
      }
      if (s.start < 0) s.start = 0;
      inRange.push(s);
    }
    if (cut === 0) return '';
    const released = this.held.slice(0, cut);
    const out = this.engine.render(released, inRange, 0, cut, this.offset, this.findings);
    this.context = (this.context + released).slice(-CONTEXT_CHARS);
    this.held = this.held.slice(cut);
    this.offset += cut;
    return out;
  }

  /**
   * Starts suppressing a value that begins at held[0] and returns its label. The value's
   * end is not known yet, so every style falls back to `redact` here.
   */
  private suppress(detector: Detector, consumed: number, mode: Mode): string {
    const replacement = this.engine.styler.replace(detector.type, 'redact', '', '');
    this.suppressed = { detector, start: this.offset, replacement };
    this.held = this.held.slice(consumed);
    this.offset += consumed;
    this.context = '';
    this.mode = mode;
    return replacement;
  }

  /** Drops suppressed text; true when the value ended and normal release may continue. */
  private consumeSuppressed(final: boolean): boolean {
    let end = -1;
    if (this.mode === Mode.Run) {
      for (let i = 0; i < this.held.length; i++) {
        if (!TOKEN_CHAR.test(this.held[i]!)) {
          end = i;
          break;
        }
      }
    } else {
      PEM_FOOTER.lastIndex = 0;
      if (PEM_FOOTER.exec(this.held) !== null) end = PEM_FOOTER.lastIndex;
    }
    if (end === -1) {
      const keep = this.mode === Mode.Pem && !final ? Math.min(PEM_TAIL, this.held.length) : 0;
      this.offset += this.held.length - keep;
      this.held = this.held.slice(this.held.length - keep);
      if (!final) return false;
      end = this.held.length;
    }
    this.offset += end;
    this.held = this.held.slice(end);
    const s = this.suppressed!;
    this.findings.push({ type: s.detector.type, detector: s.detector.name, start: s.start, end: this.offset, replacement: s.replacement });
    this.suppressed = null;
    this.mode = Mode.Normal;
    return true;
  }

  /** Where an over-long held run starts like an unbounded secret, and whose. */
  private claimOpenEnded(from: number): { start: number; detector: Detector } | null {
    if (this.openPrefix === null) return null;
    const m = this.openPrefix.exec(this.held.slice(from));
    if (m === null) return null;
    const group = m.findIndex((g, i) => i > 0 && g !== undefined);
    return { start: from + m.index, detector: this.options.openEnded[group - 1]! };
  }

  /** How much of `held` can be released now without cutting a possible value. */
  private safeCut(): number {
    const h = this.held;
    const len = h.length;
    let cut = len;
    while (cut > 0 && !isSpace(h.charCodeAt(cut - 1))) cut--;
    if (cut === len || this.stickyFrom(cut, len) === cut) {
      let j = cut;
      for (;;) {
        let w = j;
        while (w > 0 && isSpace(h.charCodeAt(w - 1))) w--;
        // Groups of one spaced value are separated by one or two blanks, not by paragraphs.
        if (w === 0 || j - w > 2) break;
        let r = w;
        while (r > 0 && !isSpace(h.charCodeAt(r - 1))) r--;
        const s = this.stickyFrom(r, w);
        if (s === w || len - s > this.options.holdBack) break;
        cut = s;
        if (s > r) break;
        j = r;
      }
    }
    if (this.options.fixedWindow) cut = Math.min(cut, Math.max(0, len - this.options.holdBack));
    return cut;
  }

  /** Start of the longest suffix of held[r, w) that could be part of a spaced value. */
  private stickyFrom(r: number, w: number): number {
    const h = this.held;
    if (this.options.titleCase && isUpper(h.charCodeAt(r))) return r;
    let s = w;
    while (s > r && !isLower(h.charCodeAt(s - 1))) s--;
    return s;
  }
}
