/**
 * Response maskers for the inference providers' own stream formats, by connection type. The
 * registry (response-maskers.ts) asks here first under a profile; null means the generic
 * masker for the content type fits (a JSON body read whole, Azure OpenAI's OpenAI-shaped stream).
 */
import { parseMediaType } from '../content-type.ts';
import type { MaskProfile } from '../types.ts';
import { AnthropicSseMasker } from './anthropic-sse.ts';
import { GeminiArrayMasker, GeminiSseMasker } from './gemini-stream.ts';
import type { ProviderLimits, ProviderResponse, ProviderStreamMasker } from './common.ts';
import { BedrockStreamMasker } from '../../providers/bedrock/stream-masker.ts';

export type ProviderMaskerFactory = (profile: MaskProfile, target: ProviderResponse, limits: ProviderLimits) => ProviderStreamMasker | null;

// An event may be large (a long tool input in one delta), but not unbounded.
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

const isSse = (target: ProviderResponse) => parseMediaType(target.contentType).essence === 'text/event-stream';

/**
 * Binary stream formats no generic masker can read (Bedrock's event stream): their provider's
 * reader applies with a profile (masking) and without one (the bytes pass untouched, read on the
 * side for the transcript), ahead of the registry's content-type rules.
 */
export const PROVIDER_FRAMED_STREAMS: Readonly<Record<string, (profile: MaskProfile | null, target: ProviderResponse, limits: ProviderLimits) => ProviderStreamMasker | null>> = {
  bedrock: (profile, target, limits) =>
    parseMediaType(target.contentType).essence === 'application/vnd.amazon.eventstream' ? new BedrockStreamMasker({ profile, transcriptBytes: limits.transcriptBytes }) : null,
};

export const PROVIDER_RESPONSE_MASKERS: Readonly<Record<string, ProviderMaskerFactory>> = {
  anthropic: (profile, target, limits) => (isSse(target) ? new AnthropicSseMasker(profile, MAX_EVENT_CHARS, limits.transcriptBytes) : null),
  gemini: (profile, target, limits) => {
    if (isSse(target)) return new GeminiSseMasker(profile, MAX_EVENT_CHARS, limits.transcriptBytes);
    // streamGenerateContent without alt=sse: JSON, but streamed, so it is masked element by element.
    if (target.streamFormat === 'json-array') return new GeminiArrayMasker(profile, MAX_EVENT_CHARS, limits.transcriptBytes);
    return null;
  },
};
