/** What a walk of one statement's parse tree collects, apart from the walk so its helpers can share the type. */

export const SQL_FLAGS = [
  'copy_to_program',
  'copy_from_program',
  'copy_to_stdout',
  'copy_from_stdin',
  'copy_to_file',
  'copy_from_file',
  'select_star',
  'has_limit',
  'do_block',
  'dynamic_sql',
  'dynamic_setting',
  'nonstandard_strings',
  'parse_error',
  'empty',
] as const;
export type SqlFlag = (typeof SQL_FLAGS)[number];

export interface TreeFacts {
  readonly kinds: Set<string>;
  readonly tables: Set<string>;
  readonly functions: Set<string>;
  hasWhere: boolean;
  readonly flags: Set<SqlFlag>;
  /** Names of prepared statements this text creates (PREPARE) and runs (EXECUTE), at any depth. */
  readonly prepared: Set<string>;
  readonly executed: Set<string>;
  /** Names of cursors this text declares (DECLARE) and reads (FETCH, MOVE). */
  readonly declared: Set<string>;
  readonly fetched: Set<string>;
  /**
   * Set when a fact was derived from a literal's value (see literals.ts): such facts hold for
   * their exact text only, not for every text of the same shape.
   */
  readsLiterals: boolean;
  /** SQL text run by a function (query_to_xml, dblink …) held more than one statement. */
  nestedMultiStatement: boolean;
}

export function newTreeFacts(): TreeFacts {
  return {
    kinds: new Set(),
    tables: new Set(),
    functions: new Set(),
    hasWhere: true,
    flags: new Set(),
    prepared: new Set(),
    executed: new Set(),
    declared: new Set(),
    fetched: new Set(),
    readsLiterals: false,
    nestedMultiStatement: false,
  };
}
