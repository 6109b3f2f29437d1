import { z } from 'zod';

/**
 * The `masking:` section of gatehouse.yaml. Shapes only: names (entity types, validators,
 * regexes) are checked by compileMaskingProfiles, which reports the profile and key.
 */
export const maskStyleSchema = z.enum(['redact', 'partial', 'pseudonym', 'drop']);

export const validatorNameSchema = z.enum(['luhn', 'mod97', 'none']);

export const customPatternSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower_snake_case name'),
  /** RE2 syntax (run on a linear-time engine); look-arounds and back-references are refused at load. */
  regex: z.string().min(1).max(4096),
  /** Regex flags beyond the `g` the engine adds; only `i`, `m`, `s`, `u` make sense. */
  flags: z.string().regex(/^[imsu]*$/).default(''),
  style: maskStyleSchema.default('redact'),
  /** When set, a match counts only if one of these words (case-insensitive) occurs within `contextWindow` chars before it. */
  context: z.array(z.string().min(1)).optional(),
  contextWindow: z.number().int().positive().max(1000).default(64),
  validator: validatorNameSchema.default('none'),
});

export const dictionarySchema = z.union([
  z.array(z.string().min(1)),
  z.strictObject({
    terms: z.array(z.string().min(1)),
    style: maskStyleSchema.default('redact'),
    caseSensitive: z.boolean().default(false),
  }),
]);

export const fieldRuleSchema = z.union([
  z.string().min(1),
  z.strictObject({ path: z.string().min(1), style: maskStyleSchema.optional() }),
]);

export const columnRuleSchema = z.union([
  z.string().min(1),
  z.strictObject({ name: z.string().min(1), style: maskStyleSchema.optional() }),
]);

export const maskingProfileSchema = z.strictObject({
  /** Entity type (or family `secret` / `pii`) → style. Specific types override their family. */
  entities: z.record(z.string(), maskStyleSchema).default({}),
  patterns: z.array(customPatternSchema).default([]),
  dictionaries: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), dictionarySchema).default({}),
  /** JSON paths always masked: `$.user.ssn`, `messages[*].name`, `$..password`. */
  fields: z.array(fieldRuleSchema).default([]),
  fieldStyle: maskStyleSchema.default('redact'),
  /** SQL result columns always masked (matched case-insensitively). */
  columns: z.array(columnRuleSchema).default([]),
  columnStyle: maskStyleSchema.default('redact'),
  /**
   * Streaming: the most text held back to catch values split across chunks. 256 covers the
   * longest bounded built-in pattern (sk-proj keys, github_pat_, spaced IBANs); longer
   * open-ended values (JWTs, PEM blocks, URLs) are cut off and suppressed as a whole.
   */
  holdBack: z.number().int().min(64).max(65536).default(256),
  /** The most one body, value or row is scanned; `onOversize` says what happens past it. */
  maxScanBytes: z.number().int().positive().default(10 * 1024 * 1024),
  onOversize: z.enum(['refuse', 'truncate']).default('refuse'),
  /** The most one request scans in all (every chunk of a stream, every row of a result); past it, refused. */
  maxRequestScanBytes: z.number().int().positive().default(256 * 1024 * 1024),
  /** Detector work one request may cause: bytes times the profile's work per byte (see docs/masking.md). */
  maxRequestScanWork: z.number().int().positive().default(16 * 1024 * 1024 * 1024),
});

export const maskingConfigSchema = z.strictObject({
  /** HMAC key for `pseudonym`; when absent the lead derives one per deployment. */
  key: z.string().min(16).optional(),
  profiles: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), maskingProfileSchema).default({}),
});

export type MaskStyle = z.infer<typeof maskStyleSchema>;
export type ValidatorName = z.infer<typeof validatorNameSchema>;
export type CustomPatternConfig = z.infer<typeof customPatternSchema>;
export type DictionaryConfig = z.infer<typeof dictionarySchema>;
export type FieldRuleConfig = z.infer<typeof fieldRuleSchema>;
export type ColumnRuleConfig = z.infer<typeof columnRuleSchema>;
/** A profile after defaults are applied (what compileMaskingProfiles reads). */
export type MaskingProfileConfig = z.infer<typeof maskingProfileSchema>;
/** A profile as written in YAML (defaults optional). */
export type MaskingProfileInput = z.input<typeof maskingProfileSchema>;
export type MaskingConfig = z.infer<typeof maskingConfigSchema>;
export type MaskingConfigInput = z.input<typeof maskingConfigSchema>;
