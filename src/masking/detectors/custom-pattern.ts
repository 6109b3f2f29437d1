import { ConfigError } from '../../errors.ts';
import type { CustomPatternConfig } from '../config.ts';
import type { Detector } from '../types.ts';
import { VALIDATORS } from '../validators.ts';
import { PRIORITY } from './priority.ts';
import { hasContextBefore, regexDetector } from './regex-detector.ts';

/** A profile's own regex, with its optional checksum and context words. */
export function customPatternDetector(profile: string, spec: CustomPatternConfig): Detector {
  let re: RegExp;
  try {
    re = new RegExp(spec.regex, `g${spec.flags}`);
  } catch (err) {
    throw new ConfigError(`masking profile "${profile}": pattern "${spec.name}" has an invalid regex: ${(err as Error).message}`, {
      cause: err,
      details: { profile, key: `patterns.${spec.name}.regex` },
    });
  }
  if (re.test('')) {
    throw new ConfigError(`masking profile "${profile}": pattern "${spec.name}" matches the empty string`, {
      details: { profile, key: `patterns.${spec.name}.regex` },
    });
  }
  const validate = VALIDATORS[spec.validator];
  const context = spec.context?.map((w) => w.toLowerCase());
  const window = spec.contextWindow;
  return regexDetector({
    type: spec.name,
    name: `pattern:${spec.name}`,
    priority: PRIORITY.custom_pattern,
    patterns: [re],
    accept: (m, text) => validate(m[0]) && (context === undefined || hasContextBefore(text, m.index, context, window)),
  });
}
