import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { type MaskingConfig, type MaskingConfigInput, maskingConfigSchema } from './config.ts';
import { BUILTIN_DETECTORS } from './detectors/registry.ts';
import { entityTypesOf } from './detect-entities.ts';
import { ENTITY_TYPES, OPT_IN_TYPES } from './entity-types.ts';
import { failClosed } from './fail-closed.ts';
import { compileProfile } from './profile.ts';
import { ScanBudget } from './scan-budget.ts';
import { createScanner } from './scanner.ts';
import { createStyler, type Styler } from './styler.ts';
import type { Detector, MaskingProfiles, MaskProfile } from './types.ts';

const DETECTION_LIMIT = 10 * 1024 * 1024;

function styler(config: MaskingConfig, key: Buffer): Styler {
  // A key written in the config wins over the deployment default the caller derives.
  const effective = config.key === undefined ? key : Buffer.from(config.key, 'utf8');
  try {
    return createStyler(effective);
  } catch (err) {
    throw new ConfigError('masking key must be at least 16 bytes', { cause: err, details: { key: 'masking.key' } });
  }
}

/**
 * Compiles every profile once (regexes, dictionaries, paths); the result is immutable and a
 * config reload builds a new one. Throws ConfigError naming the profile and key at fault.
 */
export function compileMaskingProfiles(config: MaskingConfig | MaskingConfigInput, key: Buffer): MaskingProfiles {
  const parsed = maskingConfigSchema.safeParse(config);
  if (!parsed.success) {
    const path = parsed.error.issues[0]?.path ?? [];
    throw new ConfigError(`invalid masking config: ${z.prettifyError(parsed.error)}`, {
      details: { key: ['masking', ...path].join('.'), ...(path[0] === 'profiles' && path.length > 1 ? { profile: String(path[1]) } : {}) },
    });
  }
  const s = styler(parsed.data, key);
  const profiles = new Map<string, MaskProfile>();
  const detection = new Set<Detector>(ENTITY_TYPES.filter((t) => !OPT_IN_TYPES.has(t)).map((t) => BUILTIN_DETECTORS[t]));
  for (const [name, cfg] of Object.entries(parsed.data.profiles)) {
    const compiled = compileProfile(name, cfg, s);
    profiles.set(name, compiled.profile);
    for (const d of compiled.detectors) detection.add(d);
  }
  const detectionScanner = createScanner([...detection]);
  const names = Object.freeze([...profiles.keys()]);
  return Object.freeze({
    names,
    get: (name: string) => profiles.get(name),
    detectEntities: (text: string) => failClosed(() => entityTypesOf(detectionScanner.scan(new ScanBudget(DETECTION_LIMIT, 'refuse').take(text)))),
  });
}
