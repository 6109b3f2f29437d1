import { z } from 'zod';
import { parseDuration } from '../util/durations.ts';
import { expandInteractionPattern, INTERACTION_KINDS, PRINCIPAL_KINDS } from './kinds.ts';
import { isPackName, PACK_NAMES } from './packs/names.ts';
import { highRiskPromptsSchema } from './packs/high-risk-settings.ts';

// Objects are strict everywhere: a misspelt key such as `group:` would otherwise be dropped and the
// rule would silently match more than its author meant.

const text = z.string().min(1, 'must not be empty');

// An empty list is refused rather than read as "any" or "none": both readings surprise someone.
const nameList = (what: string) =>
  z.array(text).min(1, `list at least one ${what}, or leave the field out to match any`);

const duration = z.string().superRefine((value, ctx) => {
  try {
    if (parseDuration(value) === 0) ctx.addIssue({ code: 'custom', message: 'duration must be longer than zero' });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const interactionPattern = text.superRefine((pattern, ctx) => {
  if (expandInteractionPattern(pattern).length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `"${pattern}" matches no interaction kind (known: ${INTERACTION_KINDS.join(', ')}; a trailing * matches a prefix, e.g. llm.*)`,
    });
  }
});

export const matchSchema = z.strictObject({
  identities: nameList('identity name').optional(),
  groups: nameList('group').optional(),
  serviceAccounts: nameList('service account name').optional(),
  kinds: z.array(z.enum(PRINCIPAL_KINDS)).min(1, 'list at least one principal kind, or leave the field out').optional(),
  connections: nameList('connection name').optional(),
  connectionTags: nameList('connection tag').optional(),
  interactions: z.array(interactionPattern).min(1, 'list at least one interaction kind, or leave the field out').optional(),
});

const positiveInt = z.number().int().min(1);

export const limitsSchema = z.strictObject({
  concurrentSessionsPerIdentity: positiveInt.optional(),
  concurrentSessionsPerConnection: positiveInt.optional(),
  requestsPerMinute: positiveInt.optional(),
  llmTokensPerMinute: positiveInt.optional(),
});

const ruleShape = {
  name: text.refine((name) => name !== '<default>', '"<default>" is reserved for the decision when no rule matches'),
  description: z.string().optional(),
  match: matchSchema.optional(),
  when: text.optional(),
  mask: text.optional(),
  limits: limitsSchema.optional(),
};

export const DEFAULT_APPROVAL_TIMEOUT = '15m';

export const ruleSchema = z.discriminatedUnion('action', [
  z.strictObject({ ...ruleShape, action: z.literal('allow') }),
  z.strictObject({ ...ruleShape, action: z.literal('deny'), reason: text.optional() }),
  z
    .strictObject({
      ...ruleShape,
      action: z.literal('approve'),
      approvers: nameList('approver group'),
      required: positiveInt.default(1),
      timeout: duration.default(DEFAULT_APPROVAL_TIMEOUT),
      /** How long the client blocks for a decision (default 60s, never past `timeout`); left a string like timeout. */
      wait: duration.optional(),
    })
    .superRefine((rule, ctx) => {
      if (rule.wait === undefined) return;
      try {
        if (parseDuration(rule.wait) > parseDuration(rule.timeout)) {
          ctx.addIssue({ code: 'custom', path: ['wait'], message: `wait (${rule.wait}) must not be longer than timeout (${rule.timeout}): the approval expires at timeout` });
        }
      } catch {
        // The field's own check already reported the bad duration.
      }
    }),
]);

/** How long a held client waits when the rule names no `wait`. */
export const DEFAULT_APPROVAL_WAIT_MS = 60_000;

const packName = z.string().superRefine((name, ctx) => {
  if (!isPackName(name)) {
    ctx.addIssue({ code: 'custom', message: `unknown guardrail pack "${name}" (available: ${PACK_NAMES.join(', ')})` });
  }
});

const settingsShape = {
  include: z.array(packName).default([]),
  /** Folder of rule files, resolved by the caller relative to the config file. */
  dir: text.optional(),
  sensitiveTables: z.array(text).default([]),
  sensitiveConnectionTags: z.array(text).default(['sensitive']),
  /** Terms the high-risk-prompts pack holds for approval (packs/high-risk-settings.ts). */
  highRiskPrompts: highRiskPromptsSchema.optional(),
  tokenLifetime: z
    .strictObject({ default: duration.optional(), groups: z.record(z.string(), duration).default({}) })
    .optional(),
};

/** The `policy:` section of gatehouse.yaml. Durations stay strings, so parsing the output again is a no-op. */
export const policyConfigSchema = z.strictObject({ ...settingsShape, rules: z.array(ruleSchema).default([]) });

/** The same section with rules left unparsed, so each rule can be checked on its own. */
export const policySettingsSchema = z.strictObject({ ...settingsShape, rules: z.array(z.unknown()).default([]) });

/** One file of a policy folder. */
export const policyFileSchema = z.strictObject({ rules: z.array(ruleSchema).default([]) });
export const policyFileSettingsSchema = z.strictObject({ rules: z.array(z.unknown()).default([]) });

export type PolicyConfig = z.output<typeof policyConfigSchema>;
export type PolicyConfigInput = z.input<typeof policyConfigSchema>;
export type PolicySettings = z.output<typeof policySettingsSchema>;
export type RuleConfig = z.output<typeof ruleSchema>;
export type RuleConfigInput = z.input<typeof ruleSchema>;
export type MatchConfig = z.output<typeof matchSchema>;
export type LimitsConfig = z.output<typeof limitsSchema>;
export type PolicyFileConfig = z.output<typeof policyFileSchema>;
