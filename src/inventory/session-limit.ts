/**
 * The per-person concurrency limit an owner is held to: the strictest concurrentSessionsPerIdentity
 * of the rules whose principal match can apply to them (connection and request matches aside,
 * since any of their agents' requests may hit such a rule).
 */
interface RuleLike {
  readonly config: {
    readonly match?: { readonly identities?: readonly string[]; readonly groups?: readonly string[]; readonly kinds?: readonly string[] };
    readonly limits?: { readonly concurrentSessionsPerIdentity?: number };
  };
}

export function sessionLimitOf(policy: unknown, person: { name: string; kind: string; groups: readonly string[] }): number | null {
  const rules = (policy as { rules?: readonly RuleLike[] }).rules ?? [];
  let strictest: number | null = null;
  for (const { config } of rules) {
    const limit = config.limits?.concurrentSessionsPerIdentity;
    if (limit === undefined) continue;
    const m = config.match ?? {};
    if (m.identities && !m.identities.includes(person.name)) continue;
    if (m.groups && !m.groups.some((g) => person.groups.includes(g))) continue;
    if (m.kinds && !m.kinds.includes(person.kind)) continue;
    if (strictest === null || limit < strictest) strictest = limit;
  }
  return strictest;
}
