/** The envelope fields every generated reply carries. */
import { randomUUID } from 'node:crypto';
import type { CompletionUsage } from 'openai/resources/completions';

/** Fixed, so recorded replies differ only in ids and timestamps. */
export const SYSTEM_FINGERPRINT = 'fp_gatehouse_demo';

/** An id shaped like the real service's: a type prefix and random hex (`chatcmpl-…`, `call_…`, `resp_…`). */
export function newId(prefix: string, length = 32): string {
  return prefix + randomUUID().replaceAll('-', '').slice(0, length);
}

export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function completionUsage(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}
