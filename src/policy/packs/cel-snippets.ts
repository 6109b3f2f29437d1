import type { MatchConfig } from '../schema.ts';

/** A CEL list literal; JSON string syntax is valid CEL string syntax. */
export function celStringList(values: readonly string[]): string {
  return `[${values.map((value) => JSON.stringify(value)).join(', ')}]`;
}

/** True only when the classifier set the flag: a missing flag must not fail (and so deny) every query. */
export function sqlFlag(name: string): string {
  return `(has(request.sql.flags.${name}) && request.sql.flags.${name} == true)`;
}

export const SQL_ONLY: MatchConfig = { interactions: ['sql.query'] };
