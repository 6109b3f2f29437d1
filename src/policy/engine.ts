import type { ConnectionInfo, Decision, Obligations } from '../interaction.ts';
import type { AnalyzedPolicy, RuleOrigin } from './analyze.ts';
import { ConditionBindings } from './bindings.ts';
import { describeConditionFailure, type CompiledCondition } from './cel.ts';
import { parseDuration } from '../util/durations.ts';
import { compileMatch, firstMismatch, mayMatchConnection, type CompiledMatch, type MatchField } from './match.ts';
import { DEFAULT_APPROVAL_WAIT_MS, type RuleConfig } from './schema.ts';
import type { PolicyEngine, PolicyInput } from './types.ts';

export const DEFAULT_RULE = '<default>';

export interface CompiledRule {
  readonly name: string;
  readonly config: RuleConfig;
  readonly origin: RuleOrigin;
  readonly match: CompiledMatch;
  readonly condition: CompiledCondition | null;
  /** Built once: a decision is returned by reference, so deciding allocates nothing of its own. */
  readonly decision: Decision;
  readonly failedDecision: Decision;
}

/** What happened at one rule, for explanations. */
export type RuleTrace =
  | { readonly rule: CompiledRule; readonly outcome: 'no_match'; readonly field: MatchField }
  | { readonly rule: CompiledRule; readonly outcome: 'condition_false' }
  | { readonly rule: CompiledRule; readonly outcome: 'condition_failed'; readonly error: string }
  | { readonly rule: CompiledRule; readonly outcome: 'matched' };

const NO_OBLIGATIONS: Obligations = Object.freeze({ maskingProfile: null, limits: Object.freeze({}) });

const DEFAULT_DECISION: Decision = Object.freeze({
  action: 'deny',
  rule: DEFAULT_RULE,
  reason: 'no policy rule matched this request, so it is denied by default',
  obligations: NO_OBLIGATIONS,
});

function buildDecision(rule: RuleConfig): Decision {
  const obligations: Obligations = Object.freeze({
    maskingProfile: rule.mask ?? null,
    limits: Object.freeze({ ...rule.limits }),
  });
  switch (rule.action) {
    case 'allow':
      return Object.freeze({ action: 'allow', rule: rule.name, obligations });
    case 'deny':
      return Object.freeze({
        action: 'deny',
        rule: rule.name,
        reason: rule.reason ?? `denied by policy rule "${rule.name}"`,
        obligations,
      });
    case 'approve':
      return Object.freeze({
        action: 'approve',
        rule: rule.name,
        approvers: Object.freeze([...rule.approvers]),
        required: rule.required,
        timeoutMs: parseDuration(rule.timeout),
        waitMs: rule.wait === undefined ? Math.min(DEFAULT_APPROVAL_WAIT_MS, parseDuration(rule.timeout)) : parseDuration(rule.wait),
        obligations,
      });
  }
}

// The caller sees only that the condition failed; the CEL error can name fields of the policy,
// so it is kept for explanations (`gatehouse policy test`) rather than sent to the agent.
const failedDecision = (name: string): Decision =>
  Object.freeze({
    action: 'deny',
    rule: name,
    reason: `the condition of policy rule "${name}" could not be evaluated for this request, so it is denied`,
    obligations: NO_OBLIGATIONS,
  });

export class CompiledPolicy implements PolicyEngine {
  readonly rules: readonly CompiledRule[];
  readonly readsEntities: boolean;
  readonly readsGrants: boolean;
  readonly masks: boolean;
  readonly maskingProfiles: readonly string[];
  readonly approves: boolean;
  readonly #defaultTtlMs: number | null;
  readonly #groupTtlMs: ReadonlyMap<string, number>;

  constructor(policy: AnalyzedPolicy | CompiledPolicy, rules?: readonly CompiledRule[]) {
    if (policy instanceof CompiledPolicy) {
      this.rules = Object.freeze([...(rules ?? policy.rules)]);
      this.#defaultTtlMs = policy.#defaultTtlMs;
      this.#groupTtlMs = policy.#groupTtlMs;
    } else {
      this.rules = Object.freeze(
        policy.rules.map(({ config, origin, condition }) => ({
          name: config.name,
          config,
          origin,
          match: compileMatch(config.match),
          condition,
          decision: buildDecision(config),
          failedDecision: failedDecision(config.name),
        })),
      );
      const lifetime = policy.settings.tokenLifetime;
      this.#defaultTtlMs = lifetime?.default === undefined ? null : parseDuration(lifetime.default);
      this.#groupTtlMs = new Map(Object.entries(lifetime?.groups ?? {}).map(([group, d]) => [group, parseDuration(d)]));
    }
    this.readsEntities = this.rules.some((rule) => rule.config.when?.includes('entities') === true);
    // A word match may look up grants a condition never reads (a string mentioning them): harmless, only slower.
    this.readsGrants = this.rules.some((rule) => /\bgrants\b/.test(rule.config.when ?? ''));
    this.masks = this.rules.some((rule) => rule.decision.obligations.maskingProfile !== null);
    this.maskingProfiles = Object.freeze([...new Set(this.rules.flatMap((rule) => rule.decision.obligations.maskingProfile ?? []))]);
    this.approves = this.rules.some((rule) => rule.decision.action === 'approve');
  }

  /**
   * The rules that can ever match requests to this connection, in their order: a connection's
   * requests are decided exactly as by the whole policy, without testing rules for other connections.
   */
  forConnection(connection: ConnectionInfo): CompiledPolicy {
    return new CompiledPolicy(this, this.rules.filter((rule) => mayMatchConnection(rule.match, connection)));
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  decide(input: PolicyInput): Decision {
    return this.evaluate(input, undefined);
  }

  /** First match wins. Never throws: anything unexpected denies, naming the rule being evaluated. */
  evaluate(input: PolicyInput, trace: RuleTrace[] | undefined): Decision {
    let current: CompiledRule | undefined;
    try {
      let bindings: ConditionBindings | undefined;
      for (const rule of this.rules) {
        current = rule;
        const field = firstMismatch(rule.match, input);
        if (field !== null) {
          trace?.push({ rule, outcome: 'no_match', field });
          continue;
        }
        if (rule.condition !== null) {
          bindings ??= new ConditionBindings(input);
          const result = rule.condition.run(bindings);
          if (result === false) {
            trace?.push({ rule, outcome: 'condition_false' });
            continue;
          }
          if (result !== true) {
            trace?.push({ rule, outcome: 'condition_failed', error: describeConditionFailure(result) });
            return rule.failedDecision;
          }
        }
        trace?.push({ rule, outcome: 'matched' });
        return rule.decision;
      }
      return DEFAULT_DECISION;
    } catch (err) {
      if (current === undefined) return DEFAULT_DECISION;
      trace?.push({ rule: current, outcome: 'condition_failed', error: (err as Error)?.message ?? String(err) });
      return current.failedDecision;
    }
  }

  /** The shortest of the default and every listed group of the principal: a group can only shorten. */
  maxTokenTtlMs(groups: readonly string[]): number | null {
    let shortest = this.#defaultTtlMs;
    for (const group of groups) {
      const ttl = this.#groupTtlMs.get(group);
      if (ttl !== undefined && (shortest === null || ttl < shortest)) shortest = ttl;
    }
    return shortest;
  }
}
