/**
 * Hides the value of every constant in a parse tree behind a getter that records the read.
 *
 * Facts are shared between texts that differ only in their literals' values, which is sound only
 * while no fact depends on a value. Rather than trusting every present and future line of the
 * walker to remember that, a read of any number, string or bit-string constant (tautology checks,
 * a set_config argument, a SET value …) marks the facts as depending on literals, and the cache
 * then keeps them for their exact text only. NULL and true/false are keywords, part of a
 * statement's shape, and stay readable. An unexpected read only costs a cache hit, never a wrong
 * answer.
 */
import type { TreeFacts } from './tree-facts.ts';

/** A_Const's value fields as libpg-query (PostgreSQL 17) names them: integer, numeric/float, string, bit string. */
const LITERAL_FIELDS = ['ival', 'fval', 'sval', 'bsval'] as const;

/** Seals every A_Const under `root`, at any depth; reading one sets `facts.readsLiterals`. */
export function sealLiterals(root: unknown, facts: Pick<TreeFacts, 'readsLiterals'>): void {
  const stack: unknown[] = [root];
  for (let value = stack.pop(); value !== undefined; value = stack.pop()) {
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    const node = value as Record<string, unknown>;
    for (const key in node) {
      const child = node[key];
      if (child === null || typeof child !== 'object') continue;
      if (key === 'A_Const') seal(child as Record<string, unknown>, facts);
      else stack.push(child);
    }
  }
}

/**
 * `{ ival: { ival: 5 } }` becomes `{ ival: { get ival() } }`: which field is there is the literal's
 * type, part of the shape; what the getter returns is its value. The getter is there even where
 * libpg-query leaves the value out (0, '', as protobuf omits defaults), so that no reader learns a
 * value from a missing key.
 */
function seal(constant: Record<string, unknown>, facts: Pick<TreeFacts, 'readsLiterals'>): void {
  for (const field of LITERAL_FIELDS) {
    const payload = constant[field] as Readonly<Record<string, unknown>> | undefined;
    if (payload === undefined) continue;
    const value = payload[field];
    constant[field] = {
      get [field]() {
        facts.readsLiterals = true;
        return value;
      },
    };
  }
}
