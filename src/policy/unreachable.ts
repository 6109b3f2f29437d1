import type { PrincipalKind } from '../interaction.ts';
import { expandInteractionPattern, INTERACTION_KINDS, PRINCIPAL_KINDS } from './kinds.ts';
import type { MatchConfig, RuleConfig } from './schema.ts';

// Fields whose values are open-ended names: left out, they match names no list can enumerate.
const NAME_FIELDS = ['identities', 'groups', 'serviceAccounts', 'connections', 'connectionTags'] as const;

const subset = <T>(inner: Iterable<T>, outer: ReadonlySet<T>): boolean => {
  for (const value of inner) if (!outer.has(value)) return false;
  return true;
};

const interactionsOf = (match: MatchConfig | undefined) =>
  new Set(match?.interactions?.flatMap(expandInteractionPattern) ?? INTERACTION_KINDS);

function principalKindsOf(match: MatchConfig | undefined): Set<PrincipalKind> {
  const kinds = new Set(match?.kinds ?? PRINCIPAL_KINDS);
  // serviceAccounts only ever matches principals of that kind.
  if (match?.serviceAccounts !== undefined) for (const kind of kinds) if (kind !== 'service_account') kinds.delete(kind);
  return kinds;
}

/** Whether every request `inner` matches is also matched by `outer` (field by field; sound, not complete). */
export function matchCovers(outer: MatchConfig | undefined, inner: MatchConfig | undefined): boolean {
  for (const field of NAME_FIELDS) {
    const outerList = outer?.[field];
    if (outerList === undefined) continue;
    const innerList = inner?.[field];
    if (innerList === undefined || !subset(innerList, new Set(outerList))) return false;
  }
  return subset(principalKindsOf(inner), principalKindsOf(outer)) && subset(interactionsOf(inner), interactionsOf(outer));
}

/** Among earlier rules without a condition, the first that matches every request `rule` matches. */
export function findShadowingRule(rule: RuleConfig, earlierUnconditional: readonly RuleConfig[]): RuleConfig | undefined {
  return earlierUnconditional.find((candidate) => matchCovers(candidate.match, rule.match));
}
