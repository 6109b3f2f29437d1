/**
 * The masking engine: detectors for secrets and PII, styles, and the surfaces adapters call
 * (text, JSON, result rows, text streams, and the one registry of response maskers). Everything fails closed with
 * MaskingError (`masking_failed`).
 */
export { compileMaskingProfiles } from './compile.ts';
export {
  maskingConfigSchema,
  maskingProfileSchema,
  maskStyleSchema,
  type MaskingConfig,
  type MaskingConfigInput,
  type MaskingProfileConfig,
  type MaskingProfileInput,
  type MaskStyle,
  type CustomPatternConfig,
  type ValidatorName,
} from './config.ts';
export { DEFAULT_PROFILES } from './defaults.ts';
export { detectEntities } from './detect-entities.ts';
export {
  ENTITY_TYPES,
  SECRET_TYPES,
  PII_TYPES,
  familyOf,
  type EntityType,
  type EntityFamily,
  type SecretType,
  type PiiType,
} from './entity-types.ts';
export { explainMasking, type ExplainedFinding, type MaskingExplanation } from './explain.ts';
export { createOpenAiSseMasker, type OpenAiSseMasker, type OpenAiSseMaskerOptions } from './openai-sse.ts';
export {
  responseMaskerFor,
  type BodyResponseMasker,
  type ResponseMasker,
  type ResponseMaskerLimits,
  type ResponseTarget,
  type StreamResponseMasker,
} from './response-maskers.ts';
export { reassembleSseTranscript } from './sse-transcriber.ts';
export {
  bodyScanText,
  maskRequestBody,
  outgoingRequestBody,
  parseRequestBody,
  type BodyWire,
  type OutgoingBody,
  type RequestBody,
} from './request-body.ts';
export { parseJsonStrict, type StrictJson } from './json-strict.ts';
export type {
  Finding,
  JsonMaskResult,
  MaskingProfiles,
  MaskProfile,
  MaskResult,
  RowMaskResult,
  TextStreamMasker,
} from './types.ts';
