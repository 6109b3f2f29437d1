/**
 * Frozen SqlFacts built from a walk, and the statement and cursor names kept beside them (policy
 * sees the facts; the Postgres adapter also needs the names). A copy made for another text of the
 * same shape carries that text and the same names.
 */
import type { SqlFacts } from '../../interaction.ts';
import { newTreeFacts, SQL_FLAGS } from './walk.ts';
import type { TreeFacts } from './walk.ts';

/** Prepared-statement and cursor names a text creates and uses; kept beside the facts, which policy sees. */
export interface SqlStatementNames {
  readonly prepared: readonly string[];
  readonly executed: readonly string[];
  readonly declared: readonly string[];
  readonly fetched: readonly string[];
}
const NONE: readonly string[] = Object.freeze([]);
const NO_NAMES: SqlStatementNames = Object.freeze({ prepared: NONE, executed: NONE, declared: NONE, fetched: NONE });
const names = new WeakMap<SqlFacts, SqlStatementNames>();

/**
 * The names `PREPARE name AS …` defines and `EXECUTE name` runs, and the cursors `DECLARE`
 * opens and `FETCH`/`MOVE` read, so an adapter can classify EXECUTE and FETCH by what the name
 * was prepared or declared with.
 */
export function sqlStatementNames(facts: SqlFacts): SqlStatementNames {
  return names.get(facts) ?? NO_NAMES;
}

export function buildFacts(text: string, tree: TreeFacts, statementCount: number, parseError: string | null): SqlFacts {
  if (statementCount === 0 && parseError === null) tree.flags.add('empty');
  // every flag is present, false or true, so a policy condition never trips over a missing key
  const flags: Record<string, boolean> = {};
  for (const f of SQL_FLAGS) flags[f] = tree.flags.has(f);
  const result: SqlFacts = Object.freeze({
    text,
    kinds: Object.freeze([...tree.kinds]),
    tables: Object.freeze([...tree.tables]),
    hasWhere: tree.hasWhere,
    functions: Object.freeze([...tree.functions]),
    multiStatement: statementCount > 1 || tree.nestedMultiStatement,
    parseError,
    flags: Object.freeze(flags),
  });
  if (tree.prepared.size + tree.executed.size + tree.declared.size + tree.fetched.size > 0) {
    const list = (set: Set<string>) => (set.size === 0 ? NONE : Object.freeze([...set]));
    names.set(
      result,
      Object.freeze({ prepared: list(tree.prepared), executed: list(tree.executed), declared: list(tree.declared), fetched: list(tree.fetched) }),
    );
  }
  return result;
}

/** Facts for text that was not (or could not be) parsed: no kinds, and the reason, for policy to deny. */
export function failedFacts(text: string, message: string): SqlFacts {
  const tree = newTreeFacts();
  tree.flags.add('parse_error');
  return buildFacts(text, tree, 0, message);
}

/**
 * The facts of a text of the same shape, for `text`: policy, the recording and error messages must
 * quote the statement that was sent, never the one that happened to be classified first.
 */
export function withText(facts: SqlFacts, text: string): SqlFacts {
  const copy: SqlFacts = Object.freeze({ ...facts, text });
  const named = names.get(facts);
  if (named !== undefined) names.set(copy, named);
  return copy;
}
