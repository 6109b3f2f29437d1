import type { z } from 'zod';
import { compileCondition, type CompiledCondition } from './cel.ts';
import { parseDuration } from '../util/durations.ts';
import { isPackName, packRules, type PackName } from './packs/index.ts';
import {
  policyFileSettingsSchema,
  policySettingsSchema,
  ruleSchema,
  type PolicySettings,
  type RuleConfig,
} from './schema.ts';
import { findShadowingRule } from './unreachable.ts';

/** One problem found in a policy. `path` is where in the file it is, e.g. `policy.rules[2].when`. */
export interface PolicyProblem {
  readonly file?: string;
  readonly rule?: string;
  readonly path: string;
  readonly message: string;
}

export interface PolicyCheckResult {
  readonly errors: PolicyProblem[];
  readonly warnings: PolicyProblem[];
}

/** A parsed YAML file from a policy folder (see loadPolicyFiles). */
export interface PolicyFile {
  readonly file: string;
  readonly content: unknown;
}

export interface CheckPolicyOptions {
  /** Rule files from the policy folder, evaluated after the inline rules in this order. */
  readonly files?: readonly PolicyFile[];
  /** When given, a rule naming a masking profile outside this list is an error. */
  readonly knownMaskProfiles?: readonly string[];
}

export type RuleOrigin = { readonly pack: PackName } | { readonly file?: string; readonly path: string };

export interface AnalyzedRule {
  readonly config: RuleConfig;
  readonly origin: RuleOrigin;
  readonly condition: CompiledCondition | null;
}

export interface AnalyzedPolicy {
  readonly settings: PolicySettings;
  readonly rules: readonly AnalyzedRule[];
}

export function describeOrigin(origin: RuleOrigin): string {
  if ('pack' in origin) return `guardrail pack ${origin.pack}`;
  return origin.file === undefined ? origin.path : `${origin.file}: ${origin.path}`;
}

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(top level)' : out;
}

function ruleNameOf(raw: unknown): string | undefined {
  const name = raw !== null && typeof raw === 'object' ? (raw as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : undefined;
}

function zodProblems(error: z.ZodError, at: { file?: string; prefix: string; rule?: string }): PolicyProblem[] {
  return error.issues.map((issue) => ({
    ...(at.file === undefined ? {} : { file: at.file }),
    ...(at.rule === undefined ? {} : { rule: at.rule }),
    path: formatPath(at.prefix, issue.path),
    message: issue.message,
  }));
}

/** Settings that are valid but do not do what their author probably meant. */
function settingsWarnings(settings: PolicySettings, packs: ReadonlySet<string>): PolicyProblem[] {
  const warnings: PolicyProblem[] = [];
  if (packs.has('data-exfiltration') && settings.sensitiveTables.length === 0 && settings.sensitiveConnectionTags.length === 0) {
    warnings.push({
      path: 'policy.include',
      message: 'data-exfiltration is included but neither sensitiveTables nor sensitiveConnectionTags names anything to protect',
    });
  }
  const lifetime = settings.tokenLifetime;
  if (lifetime?.default !== undefined) {
    const defaultMs = parseDuration(lifetime.default);
    for (const [group, ttl] of Object.entries(lifetime.groups)) {
      if (parseDuration(ttl) >= defaultMs) {
        warnings.push({
          path: `policy.tokenLifetime.groups.${group}`,
          message: `${ttl} is not shorter than the default ${lifetime.default}; a group lifetime can only shorten tokens, so it has no effect`,
        });
      }
    }
  }
  return warnings;
}

/**
 * Validates and compiles everything a policy needs, collecting every problem rather than stopping
 * at the first. Rule order: guardrail packs (in `include` order), inline rules, then folder files.
 */
export function analyzePolicy(config: unknown, options: CheckPolicyOptions = {}): PolicyCheckResult & { policy?: AnalyzedPolicy } {
  const errors: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const candidates: Array<{ raw: unknown; file?: string; path: string }> = [];

  const settingsResult = policySettingsSchema.safeParse(config ?? {});
  if (!settingsResult.success) errors.push(...zodProblems(settingsResult.error, { prefix: 'policy' }));
  const settings = settingsResult.data;

  const rules: AnalyzedRule[] = [];
  if (settings !== undefined) {
    const seenPacks = new Set<string>();
    settings.include.forEach((pack, index) => {
      if (seenPacks.has(pack)) {
        errors.push({ path: `policy.include[${index}]`, message: `guardrail pack "${pack}" is listed twice` });
      } else if (isPackName(pack)) {
        seenPacks.add(pack);
        for (const rule of packRules(pack, settings)) rules.push({ config: rule, origin: { pack }, condition: null });
      }
    });
    warnings.push(...settingsWarnings(settings, seenPacks));
  }
  // Rules are still checked when the surrounding settings are not, so one run reports everything.
  const rawRules = settings?.rules ?? (config as { rules?: unknown } | null | undefined)?.rules;
  if (Array.isArray(rawRules)) rawRules.forEach((raw, index) => candidates.push({ raw, path: `policy.rules[${index}]` }));

  for (const { file, content } of options.files ?? []) {
    const parsed = policyFileSettingsSchema.safeParse(content ?? {});
    if (!parsed.success) {
      errors.push(...zodProblems(parsed.error, { file, prefix: '' }));
      continue;
    }
    parsed.data.rules.forEach((raw, index) => candidates.push({ raw, file, path: `rules[${index}]` }));
  }

  for (const { raw, file, path } of candidates) {
    const result = ruleSchema.safeParse(raw);
    if (result.success) {
      rules.push({ config: result.data, origin: file === undefined ? { path } : { file, path }, condition: null });
    } else {
      const rule = ruleNameOf(raw);
      errors.push(...zodProblems(result.error, { prefix: path, ...(file === undefined ? {} : { file }), ...(rule === undefined ? {} : { rule }) }));
    }
  }

  const known = options.knownMaskProfiles === undefined ? undefined : new Set(options.knownMaskProfiles);
  const firstByName = new Map<string, AnalyzedRule>();
  const unconditional: RuleConfig[] = [];
  const compiled = rules.map((entry): AnalyzedRule => {
    const { config: rule, origin } = entry;
    const at = {
      ...('file' in origin && origin.file !== undefined ? { file: origin.file } : {}),
      rule: rule.name,
    };
    const base = 'pack' in origin ? `(${describeOrigin(origin)})` : origin.path;
    const first = firstByName.get(rule.name);
    if (first === undefined) firstByName.set(rule.name, entry);
    else errors.push({ ...at, path: `${base}.name`, message: `duplicate rule name "${rule.name}" (first defined at ${describeOrigin(first.origin)})` });

    if (known !== undefined && rule.mask !== undefined && !known.has(rule.mask)) {
      errors.push({ ...at, path: `${base}.mask`, message: `unknown masking profile "${rule.mask}" (known: ${[...known].join(', ') || 'none'})` });
    }

    const shadow = findShadowingRule(rule, unconditional);
    if (shadow !== undefined) {
      warnings.push({
        ...at,
        path: base,
        message: `rule "${rule.name}" can never match: the earlier rule "${shadow.name}" has no condition and matches everything it matches`,
      });
    }

    if (rule.when === undefined) {
      unconditional.push(rule);
      return entry;
    }
    const result = compileCondition(rule.when);
    if (result.errors !== undefined) {
      for (const message of result.errors) errors.push({ ...at, path: `${base}.when`, message: `condition: ${message}` });
      return entry;
    }
    return { ...entry, condition: result.condition };
  });

  if (errors.length === 0 && !compiled.some((r) => r.config.action !== 'deny')) {
    warnings.push({ path: 'policy.rules', message: 'no rule allows or asks for approval: every request will be denied' });
  }

  if (errors.length > 0 || settings === undefined) return { errors, warnings };
  return { errors, warnings, policy: { settings, rules: compiled } };
}
