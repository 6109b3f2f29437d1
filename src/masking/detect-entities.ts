import { familyOf } from './entity-types.ts';
import type { MaskingProfiles, MaskProfile, Span } from './types.ts';

/** Distinct types of `spans`, plus the family (`secret`, `pii`) of each, sorted. */
export function entityTypesOf(spans: readonly Span[]): string[] {
  const types = new Set<string>();
  for (const s of spans) {
    types.add(s.detector.type);
    const family = familyOf(s.detector.type);
    if (family !== null) types.add(family);
  }
  return [...types].sort();
}

/**
 * Entity types present in `text`, for policy conditions such as `'secret' in request.entities`.
 * With a profile: what that profile would mask. With the compiled profile set: every
 * built-in detector and every profile's own patterns, before any rule has picked a profile.
 */
export function detectEntities(source: MaskProfile | MaskingProfiles, text: string): string[] {
  return source.detectEntities(text);
}
