import type { WorkloadTrustConfig } from '../config/identity-oidc.ts';

/**
 * Whether a claim value is one of a condition's values. A value matches a pattern when they are
 * equal, character for character (case included), except that each `*` in the pattern stands for
 * any run of characters, none included, `/` and `:` included. Only string claims match: a number,
 * boolean, list or object never does, so `"true"` cannot be met by `true` or `["acme/payments"]`.
 */
export function claimMatches(value: unknown, patterns: readonly string[]): boolean {
  if (typeof value !== 'string') return false;
  return patterns.some((pattern) => globMatches(pattern, value));
}

/** Iterative glob with one backtrack point per `*` (linear in practice, never exponential). */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star !== -1) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The first condition a token's claims fail, or null when they meet all of them. */
export function unmetCondition(claims: Readonly<Record<string, unknown>>, trust: Pick<WorkloadTrustConfig, 'conditions'>): { claim: string; got: string } | null {
  for (const [claim, patterns] of Object.entries(trust.conditions)) {
    const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
    if (!claimMatches(value, patterns)) {
      const got = value === undefined ? '(absent)' : typeof value === 'string' ? JSON.stringify(value.slice(0, 200)) : `(a ${Array.isArray(value) ? 'list' : typeof value})`;
      return { claim, got };
    }
  }
  return null;
}

/** Whether the token's aud names one of the trust's audiences. */
export function audienceMatches(aud: unknown, audiences: readonly string[]): boolean {
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  return list.some((item) => typeof item === 'string' && audiences.includes(item));
}
