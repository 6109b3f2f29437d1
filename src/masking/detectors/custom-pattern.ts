import type { RE2JS } from 're2js';
import { ConfigError } from '../../errors.ts';
import type { CustomPatternConfig } from '../config.ts';
import { compileLinearRegex, linearRegexProblem } from '../linear-regex.ts';
import type { Detector, Span } from '../types.ts';
import { VALIDATORS } from '../validators.ts';
import { PRIORITY } from './priority.ts';
import { hasContextBefore } from './regex-detector.ts';

/**
 * A profile's own pattern, with its optional checksum and context words. It runs on RE2 (re2js),
 * never on JavaScript's backtracking engine: the pattern is written by whoever edits the config,
 * the text by an agent, and only a linear-time engine keeps one careless pattern from letting
 * any agent stall the gateway. A pattern RE2 cannot run is refused at load, with the reason.
 */
export function customPatternDetector(profile: string, spec: CustomPatternConfig): Detector {
  const key = `patterns.${spec.name}.regex`;
  const problem = linearRegexProblem(spec.regex, spec.flags);
  if (problem !== null) {
    throw new ConfigError(`masking profile "${profile}": pattern "${spec.name}" cannot run on the linear-time engine (RE2): ${problem}`, {
      details: { profile, pattern: spec.name, key },
    });
  }
  const re: RE2JS = compileLinearRegex(spec.regex, spec.flags);
  if (re.matcher('').find()) {
    throw new ConfigError(`masking profile "${profile}": pattern "${spec.name}" matches the empty string`, {
      details: { profile, pattern: spec.name, key },
    });
  }
  const validate = VALIDATORS[spec.validator];
  const context = spec.context?.map((w) => w.toLowerCase());
  const window = spec.contextWindow;
  const detector: Detector = {
    type: spec.name,
    name: `pattern:${spec.name}`,
    priority: PRIORITY.custom_pattern,
    find(text: string, out: Span[]): void {
      const m = re.matcher(text);
      while (m.find()) {
        const start = m.start();
        const end = m.end();
        if (end === start) continue;
        if (!validate(text.slice(start, end))) continue;
        if (context !== undefined && !hasContextBefore(text, start, context, window)) continue;
        out.push({ start, end, detector });
      }
    },
  };
  return detector;
}
