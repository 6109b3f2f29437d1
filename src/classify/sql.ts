/**
 * What a SQL string does, as PostgreSQL's own parser (libpg-query, PostgreSQL 17 as WASM)
 * sees it: statement kinds, tables, functions, WHERE-less writes and risky forms, at any
 * depth. Policy decides on these facts; this module never throws and never decides.
 */
import { loadModule, parseSync } from 'libpg-query';
import type { SqlFacts } from '../interaction.ts';
import { LruCache } from './sql/lru.ts';
import { newTreeFacts, SQL_FLAGS, walkStatement } from './sql/walk.ts';
import type { SqlFlag, TreeFacts } from './sql/walk.ts';

export { SQL_FLAGS };
export type { SqlFlag };

/** Enough for every distinct statement of a busy application, small enough to forget about. */
const CACHE_ENTRIES = 2048;
/** Longer texts (bulk INSERTs) are rarely repeated; caching them would only hold memory. */
const CACHE_MAX_TEXT = 8 * 1024;

/**
 * Longer statements are not parsed: the WASM parser runs on the event loop, and a multi-megabyte
 * text would stall every other session for its whole parse. They are classified as unparseable,
 * which the default policy denies; a rule can still allow `request.sql.parse_error` explicitly.
 */
export const MAX_CLASSIFIED_CHARS = 1024 * 1024;

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

/**
 * Keyed by the exact text: the facts are a pure function of the text (the parser has no
 * session state: no search_path, no catalog), so a repeated statement cannot deserve a
 * different answer. Cached facts are frozen and shared.
 */
const cache = new LruCache<string, SqlFacts>(CACHE_ENTRIES);
let ready = false;

/** Loads the parser's WASM module; call once at start-up, before classifySql. */
export async function initSqlClassifier(): Promise<void> {
  await loadModule();
  ready = true;
}

/**
 * Classifies one SQL string (one or more statements). Unparseable text comes back with
 * `parseError` set, `kinds` empty and `flags.parse_error`, for policy to deny.
 */
export function classifySql(text: string): SqlFacts {
  if (!ready) return failed(text, 'SQL classifier not initialised (initSqlClassifier was not awaited)');
  if (text.length > MAX_CLASSIFIED_CHARS) {
    return failed(text, `statement of ${text.length} characters exceeds the classifier's limit of ${MAX_CLASSIFIED_CHARS}`);
  }
  const cacheable = text.length <= CACHE_MAX_TEXT;
  const hit = cacheable ? cache.get(text) : undefined;
  if (hit !== undefined) return hit;
  const facts = classify(text);
  if (cacheable) cache.set(text, facts);
  return facts;
}

interface ParsedStatement {
  readonly stmt?: Readonly<Record<string, unknown>>;
}

function classify(text: string): SqlFacts {
  // PostgreSQL refuses NUL in query text, while the WASM parser would read past it: never agree to what the server will not run
  if (text.includes('\0')) return failed(text, 'statement text contains a NUL byte');
  // libpg-query refuses blank input outright; PostgreSQL answers it with EmptyQueryResponse
  if (text.trim() === '') return facts(text, newTreeFacts(), 0, null);
  let statements: readonly ParsedStatement[];
  try {
    statements = (parseSync(text) as { stmts?: ParsedStatement[] }).stmts ?? [];
  } catch (err) {
    return failed(text, err instanceof Error ? err.message : String(err));
  }
  const tree = newTreeFacts();
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
    return failed(text, `could not classify the statement: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (selects.length > 0 && selects.every(hasLimit)) tree.flags.add('has_limit');
  return facts(text, tree, statements.length, null);
}

/** LIMIT n, LIMIT $1 and FETCH FIRST n ROWS count; LIMIT ALL and LIMIT NULL do not. */
function hasLimit(select: Readonly<Record<string, unknown>>): boolean {
  const count = select['limitCount'] as Readonly<Record<string, unknown>> | undefined;
  if (count === undefined) return false;
  const constant = count['A_Const'] as Readonly<Record<string, unknown>> | undefined;
  return constant?.['isnull'] !== true;
}

function failed(text: string, message: string): SqlFacts {
  const tree = newTreeFacts();
  tree.flags.add('parse_error');
  return facts(text, tree, 0, message);
}

function facts(text: string, tree: TreeFacts, statementCount: number, parseError: string | null): SqlFacts {
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
    multiStatement: statementCount > 1,
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
