import { compileMaskingProfiles, type MaskingConfigInput, type MaskProfile } from '../../src/masking/index.ts';

export const KEY = Buffer.alloc(32, 0x5a);

/** One compiled profile from an inline config, for tests. */
export function profileOf(profile: NonNullable<MaskingConfigInput['profiles']>[string], key: Buffer = KEY): MaskProfile {
  return compileMaskingProfiles({ profiles: { test: profile } }, key).get('test')!;
}
