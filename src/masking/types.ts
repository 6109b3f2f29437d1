import type { MaskStyle } from './config.ts';

/**
 * One masked value. Findings are recorded with the interaction, so they never carry the
 * raw value; `explainMasking` adds it for the local CLI only.
 */
export interface Finding {
  /** Entity type (`email`, `aws_access_key`), custom pattern or dictionary name, `field` or `column`. */
  readonly type: string;
  /** What found it: the built-in detector name, `pattern:<name>`, `dictionary:<name>`, `field:<path>`, `column:<name>`. */
  readonly detector: string;
  /** Offsets (UTF-16 code units) into the original string the finding came from. */
  readonly start: number;
  readonly end: number;
  readonly replacement: string;
  /** Where in a JSON body (`$.messages[0].content`) or which result column; absent for plain text. */
  readonly path?: string;
}

/** A raw match before styles apply. Mutable and short-lived: the scanner's hot path allocates only these. */
export interface Span {
  start: number;
  end: number;
  readonly detector: Detector;
}

export interface Detector {
  /** Finding type. */
  readonly type: string;
  /** Finding detector name. */
  readonly name: string;
  /** Overlaps resolve to the higher priority, then the longer span. */
  readonly priority: number;
  /**
   * Appends every match in `text` to `out`. `text` is the whole scanned string; detectors
   * that need context read before a match themselves.
   */
  find(text: string, out: Span[]): void;
  /**
   * Canonical form for pseudonyms, so that formats of one value (spaces in a card number,
   * case of an email) map to one token.
   */
  normalize?(value: string): string;
  /**
   * Regex source for the start of a value with no bounded length (a JWT, a long token).
   * The streaming masker uses it when a whitespace-free run outgrows the hold-back window:
   * a run that starts this way is suppressed to its end instead of being released.
   */
  readonly openPrefix?: string;
  /**
   * Every match contains a digit, an upper-case ASCII letter or one of `@:=_+/-`. When all of
   * a scanner's detectors say so, text without any of those (most short JSON strings such as
   * `"user"`, much prose) is skipped with one cheap test.
   */
  readonly signalled?: boolean;
}

export interface MaskResult {
  readonly text: string;
  readonly findings: readonly Finding[];
}

export interface JsonMaskResult {
  readonly value: unknown;
  readonly findings: readonly Finding[];
}

export interface RowMaskResult {
  readonly values: (string | null)[];
  readonly findings: readonly Finding[];
}

/** Masks a text stream pushed in pieces; what it returns is safe to send on at once. */
export interface TextStreamMasker {
  push(text: string): string;
  /** Releases (masked) everything still held; the masker must not be used afterwards. */
  end(): string;
  /** Findings so far, offsets relative to the whole stream. */
  readonly findings: readonly Finding[];
}

export interface MaskProfile {
  readonly name: string;
  maskText(text: string): MaskResult;
  /** Never mutates `value`; returns it unchanged (same reference) when nothing was masked. */
  maskJson(value: unknown): JsonMaskResult;
  /** Parses, masks and re-serialises; returns `body` byte-identical when nothing was masked. */
  maskJsonText(body: string): MaskResult;
  maskRow(columns: readonly string[], values: readonly (string | null)[]): RowMaskResult;
  createTextStream(): TextStreamMasker;
  /** Distinct entity types present, plus `secret` / `pii` when any member of the family is. */
  detectEntities(text: string): string[];
  /** The style each detected type is masked with (for documentation and the CLI). */
  readonly styles: ReadonlyMap<string, MaskStyle>;
  /** Detector work this profile does per scanned byte (maxRequestScanWork counts in it). */
  readonly workPerByte: number;
  /**
   * The same profile for one request: every call through it (bodies, stream chunks, rows, values)
   * draws on one budget of maxRequestScanBytes and maxRequestScanWork, and fails past it.
   */
  forRequest(): MaskProfile;
}

export interface MaskingProfiles {
  get(name: string): MaskProfile | undefined;
  readonly names: readonly string[];
  /**
   * Entity detection for policy, independent of which profile a rule will pick later:
   * every built-in structured detector plus every profile's custom patterns and dictionaries.
   */
  detectEntities(text: string): string[];
}
