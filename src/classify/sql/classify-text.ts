/**
 * One classification, uncached: parse with libpg-query (its module must be loaded), walk every
 * statement, and say whether any fact was read from a literal's value.
 */
import { parseSync } from 'libpg-query';
import type { SqlFacts } from '../../interaction.ts';
import { buildFacts, failedFacts } from './facts.ts';
import { sealLiterals } from './literals.ts';
import { newTreeFacts, walkStatement } from './walk.ts';

export interface Classified {
  readonly facts: SqlFacts;
  /** The facts hold for this exact text only (see literals.ts). */
  readonly readsLiterals: boolean;
}

interface ParsedStatement {
  readonly stmt?: Readonly<Record<string, unknown>>;
}

export function classifyText(text: string): Classified {
  // PostgreSQL refuses NUL in query text, while the WASM parser would read past it: never agree to what the server will not run
  if (text.includes('\0')) return noLiteralsRead(failedFacts(text, 'statement text contains a NUL byte'));
  // libpg-query refuses blank input outright; PostgreSQL answers it with EmptyQueryResponse
  if (text.trim() === '') return noLiteralsRead(buildFacts(text, newTreeFacts(), 0, null));
  let statements: readonly ParsedStatement[];
  try {
    statements = (parseSync(text) as { stmts?: ParsedStatement[] }).stmts ?? [];
  } catch (err) {
    return noLiteralsRead(failedFacts(text, err instanceof Error ? err.message : String(err)));
  }
  const tree = newTreeFacts();
  sealLiterals(statements, tree);
  const selects: Readonly<Record<string, unknown>>[] = [];
  try {
    for (const { stmt } of statements) {
      if (stmt === undefined) continue;
      walkStatement(stmt, tree);
      const select = stmt['SelectStmt'];
      if (select !== undefined) selects.push(select as Readonly<Record<string, unknown>>);
    }
  } catch (err) {
    // a tree shape this walker does not expect must not let the statement through unexamined
    return noLiteralsRead(failedFacts(text, `could not classify the statement: ${err instanceof Error ? err.message : String(err)}`));
  }
  if (selects.length > 0 && selects.every(hasLimit)) tree.flags.add('has_limit');
  return { facts: buildFacts(text, tree, statements.length, null), readsLiterals: tree.readsLiterals };
}

const noLiteralsRead = (facts: SqlFacts): Classified => ({ facts, readsLiterals: false });

/**
 * LIMIT n, LIMIT $1 and FETCH FIRST n ROWS count, under casts too; LIMIT ALL and LIMIT NULL
 * (keywords, not literals) do not, nor does LIMIT NULL::int. An expression (LIMIT 2 * 5,
 * LIMIT nullif(1, 1)) may come out NULL, no limit at all, so it does not count either.
 */
function hasLimit(select: Readonly<Record<string, unknown>>): boolean {
  let count = select['limitCount'] as Readonly<Record<string, unknown>> | undefined;
  for (;;) {
    const cast = count?.['TypeCast'] as Readonly<Record<string, unknown>> | undefined;
    if (cast === undefined) break;
    count = cast['arg'] as Readonly<Record<string, unknown>> | undefined;
  }
  if (count === undefined) return false;
  if (count['ParamRef'] !== undefined) return true;
  const constant = count['A_Const'] as Readonly<Record<string, unknown>> | undefined;
  return constant !== undefined && constant['isnull'] !== true;
}
