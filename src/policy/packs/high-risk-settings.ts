import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import { z } from 'zod';
import { parseDuration } from '../../util/durations.ts';
import { linearRegexProblem } from '../../masking/linear-regex.ts';
import { foldTerm } from './folded-text.ts';

// Bounds that keep a policy readable and a decision cheap: each term is one rule, tried in order.
const MAX_TERMS = 200;
const MAX_TERM_LENGTH = 200;
const MAX_PATTERN_LENGTH = 500;

const re2Env = celEnv({});

const duration = z.string().superRefine((value, ctx) => {
  try {
    if (parseDuration(value) === 0) ctx.addIssue({ code: 'custom', message: 'duration must be longer than zero' });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

/**
 * Why RE2 (CEL's `matches`) refuses a pattern, or null. RE2 has no backtracking, so whatever it
 * accepts runs in time linear in the text: no pattern, nested quantifiers included, can be made
 * slow by a prompt. What it refuses (look-around, back-references) fails here, at load, rather
 * than denying every request when the rule first runs.
 */
export function re2Problem(pattern: string): string | null {
  // One checker says why RE2 refuses a pattern, here and for masking profiles' patterns.
  const refused = linearRegexProblem(pattern);
  if (refused !== null) return refused;
  let result: unknown;
  try {
    result = plan(re2Env, parse(`"".matches(${JSON.stringify(pattern)})`))({});
  } catch (err) {
    // The pattern is spliced into a CEL string literal, as the pack's rules splice it.
    return `it cannot be written as a CEL string: ${(err as Error).message}`;
  }
  if (!isCelError(result)) return null;
  return result.message.replace(/^error parsing regexp: /, '');
}

// Half a surrogate pair is not text, and cannot be written in the CEL condition a term becomes.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = (value: string) => !LONE_SURROGATE.test(value);
const NOT_TEXT = 'holds half of a surrogate pair, which is not text';

const term = z
  .string()
  .min(1, 'must not be empty')
  .refine(wellFormed, NOT_TEXT)
  .max(MAX_TERM_LENGTH, `keep a keyword under ${MAX_TERM_LENGTH} characters`)
  .refine((value) => foldTerm(value).plain !== '', 'reads as nothing once folded (only spaces or invisible characters)');

const pattern = z
  .string()
  .min(1, 'must not be empty')
  .refine(wellFormed, NOT_TEXT)
  .max(MAX_PATTERN_LENGTH, `keep a pattern under ${MAX_PATTERN_LENGTH} characters`)
  .superRefine((value, ctx) => {
    if (!wellFormed(value)) return;
    const problem = re2Problem(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `not a valid RE2 pattern (${problem}); look-arounds and back-references are not supported` });
  });

const unique = <T extends z.ZodType<string>>(item: T, what: string) =>
  z
    .array(item)
    .max(MAX_TERMS, `list at most ${MAX_TERMS} ${what}s`)
    .superRefine((values, ctx) => {
      const seen = new Set<string>();
      values.forEach((value, i) => {
        if (seen.has(value)) ctx.addIssue({ code: 'custom', path: [i], message: `${what} "${value}" is listed twice` });
        seen.add(value);
      });
    });

/** `policy.highRiskPrompts`: what the high-risk-prompts pack holds, and for whom. */
export const highRiskPromptsSchema = z.strictObject({
  /** Words or phrases, matched as whole words on folded text. */
  keywords: unique(term, 'keyword').default([]),
  /** RE2 patterns, matched case-insensitively on folded text. */
  patterns: unique(pattern, 'pattern').default([]),
  /** The built-in prompt-injection markers (src/policy/packs/injection-markers.ts). */
  injectionMarkers: z.boolean().default(true),
  approvers: z.array(z.string().min(1, 'must not be empty')).min(1, 'list at least one approver group').default(['security']),
  required: z.number().int().min(1).default(1),
  // The same defaults as an approve rule's own (DEFAULT_APPROVAL_TIMEOUT and the hold stage's wait in ../schema.ts).
  timeout: duration.default('15m'),
  /** How long the client blocks for a decision; unset, the approve rule's default (at most `timeout`). */
  wait: duration.optional(),
}).superRefine((settings, ctx) => {
  if (settings.wait === undefined) return;
  try {
    if (parseDuration(settings.wait) > parseDuration(settings.timeout)) {
      ctx.addIssue({ code: 'custom', path: ['wait'], message: `wait (${settings.wait}) must not be longer than timeout (${settings.timeout}): the approval expires at timeout` });
    }
  } catch {
    // The field's own check already reported the bad duration.
  }
});

export type HighRiskPromptsSettings = z.output<typeof highRiskPromptsSchema>;
