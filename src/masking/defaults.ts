import type { MaskingConfigInput, MaskingProfileInput } from './config.ts';

/**
 * Profiles every deployment has, so policy can name them without any masking config:
 * `secrets` hides credentials only; `pii` hides credentials and structured personal data,
 * keeping the last four digits of phone and card numbers. Person names stay opt-in.
 * Merge as `{ ...config.masking, profiles: { ...DEFAULT_PROFILES.profiles, ...config.masking?.profiles } }`.
 */
export const DEFAULT_PROFILES: Readonly<MaskingConfigInput & { profiles: Readonly<Record<'secrets' | 'pii', MaskingProfileInput>> }> =
  Object.freeze({
    profiles: Object.freeze({
      secrets: Object.freeze({ entities: Object.freeze({ secret: 'redact' as const }) }),
      pii: Object.freeze({
        entities: Object.freeze({ secret: 'redact' as const, pii: 'redact' as const, phone: 'partial' as const, credit_card: 'partial' as const }),
      }),
    }),
  });
