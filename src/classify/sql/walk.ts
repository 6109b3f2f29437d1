/**
 * Collects facts from a whole libpg-query parse tree: every node, at every depth, because a
 * data-changing statement can hide inside a SELECT (`WITH x AS (DELETE …) SELECT …`),
 * EXPLAIN ANALYZE, PREPARE, a cursor, a rule or a function body.
 *
 * The tree is JSON: a node is `{ TypeName: { field: … } }`, except fields whose type is a
 * specific struct, which appear unwrapped (`DeleteStmt.relation` is a bare RangeVar,
 * `SelectStmt.withClause` a bare WithClause). The walk is iterative: the parser accepts
 * expressions thousands of levels deep, deeper than a recursive walk's JS stack.
 */
import { functionBody, inspectCall, STRING_SYNTAX_SETTING, stringSyntax } from './calls.ts';
import type { SqlFlag, TreeFacts } from './tree-facts.ts';
export { newTreeFacts, SQL_FLAGS, type SqlFlag, type TreeFacts } from './tree-facts.ts';
import { SQL_RUNNING_FUNCTIONS } from './sql-running-functions.ts';
import { preciseKind, statementKind } from './statement-kinds.ts';

type Node = Readonly<Record<string, unknown>>;


/** CTE names visible at a point of the tree; null when none. */
type Scope = ReadonlySet<string> | null;

interface Frame {
  readonly value: unknown;
  /** Node type when known (wrapped node, or a typed field listed in UNWRAPPED); null for anything else. */
  readonly type: string | null;
  readonly scope: Scope;
  readonly top: boolean;
}

/** Typed fields that hold a bare node we must recognise (a bare RangeVar is recognised by its `relname`). */
const UNWRAPPED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SelectStmt: { larg: 'SelectStmt', rarg: 'SelectStmt' },
  CallStmt: { funccall: 'FuncCall' },
};

/** What a MERGE branch does, so rules about insert, update and delete see it too. */
const MERGE_ACTIONS: Readonly<Record<string, string>> = { CMD_INSERT: 'insert', CMD_UPDATE: 'update', CMD_DELETE: 'delete' };

/** DROP of these object types names tables. */
const TABLE_LIKE_DROPS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE']);

const isTypeName = (key: string): boolean => {
  const c = key.charCodeAt(0);
  return c >= 65 && c <= 90;
};

const asNode = (v: unknown): Node | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : null);
const asList = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const sval = (v: unknown): string | undefined => {
  const s = asNode(asNode(v)?.['String'])?.['sval'];
  return typeof s === 'string' ? s : undefined;
};


/**
 * Adds the facts of one top-level statement (`{ TypeName: {…} }`) to `facts`. `depth` counts the
 * SQL-running function calls (see sql-running-functions.ts) whose text this statement came from.
 */
export function walkStatement(stmt: Node, facts: TreeFacts, depth = 0): void {
  const stack: Frame[] = [{ value: stmt, type: null, scope: null, top: true }];
  const children: Frame[] = [];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { value, scope } = frame;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], type: null, scope, top: false });
      continue;
    }
    const node = asNode(value);
    if (node === null) continue;
    let withClause: Node | null = null;
    if (frame.type !== null) {
      visit(frame.type, node, scope, frame.top, facts, depth);
      withClause = asNode(node['withClause']);
    } else if (typeof node['relname'] === 'string') {
      // a bare RangeVar is a typed field (a DML target, CREATE TABLE's name …): never a CTE reference
      addTable(node, null, facts);
    } else if (Array.isArray(node['objname'])) {
      // a bare ObjectWithArgs (CREATE CAST … WITH FUNCTION f, ALTER FUNCTION f …)
      addFunctionReference(node['objname'], facts);
    }
    const childScope = withClause === null ? scope : pushWith(withClause, scope, children);
    const unwrapped = frame.type === null ? undefined : UNWRAPPED[frame.type];
    for (const key in node) {
      if (key === 'withClause' && withClause !== null) continue; // pushWith queued its CTEs
      // a constant holds no statement, table or function, and opening it would read its value
      if (key === 'A_Const') continue;
      const child = node[key];
      if (child === null || typeof child !== 'object') continue;
      const type = isTypeName(key) ? key : (unwrapped?.[key] ?? null);
      // a wrapper's only key is the node type; its node is still this statement's top, if any
      children.push({ value: child, type, scope: childScope, top: frame.top && frame.type === null });
    }
    // reversed onto the stack so nodes are visited in tree order (kinds come out in statement order)
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    children.length = 0;
  }
}

/**
 * Queues a statement's CTEs with the names each may see, and returns the scope of the rest of
 * the statement. A plain CTE sees only the CTEs before it; so `WITH x AS (SELECT * FROM x)`
 * reads a real table x. WITH RECURSIVE lets every CTE see all of them.
 */
function pushWith(withClause: Node, scope: Scope, children: Frame[]): Scope {
  const ctes = asList(withClause['ctes']).map((c) => asNode(asNode(c)?.['CommonTableExpr'])).filter((c) => c !== null);
  const names = ctes.map((c) => c['ctename']).filter((n): n is string => typeof n === 'string');
  const all = new Set([...(scope ?? []), ...names]);
  const recursive = withClause['recursive'] === true;
  ctes.forEach((cte, i) => {
    const visible = recursive ? all : new Set([...(scope ?? []), ...names.slice(0, i)]);
    children.push({ value: cte, type: 'CommonTableExpr', scope: visible, top: false });
  });
  return all;
}

function visit(type: string, node: Node, scope: Scope, top: boolean, facts: TreeFacts, depth: number): void {
  const kind = statementKind(type, node);
  // INSERT … VALUES parses its rows as a SELECT that reads nothing; only a bare VALUES statement is a query
  if (kind !== null && !(type === 'SelectStmt' && !top && node['valuesLists'] !== undefined)) facts.kinds.add(kind);
  const precise = kind === null ? null : preciseKind(type, node);
  if (precise !== null) facts.kinds.add(precise);
  switch (type) {
    case 'SelectStmt':
      if (node['intoClause'] !== undefined) facts.kinds.add('create_table');
      if (asList(node['targetList']).some(isStarTarget)) facts.flags.add('select_star');
      break;
    case 'InsertStmt':
      // an upsert rewrites existing rows: a rule about 'update' must see it
      if (asNode(node['onConflictClause'])?.['action'] === 'ONCONFLICT_UPDATE') facts.kinds.add('update');
      break;
    case 'MergeWhenClause': {
      const action = MERGE_ACTIONS[node['commandType'] as string];
      if (action !== undefined) facts.kinds.add(action);
      break;
    }
    case 'UpdateStmt':
    case 'DeleteStmt': {
      // pg_settings' update rule calls set_config(name, setting): which settings change is in the rows
      if (type === 'UpdateStmt' && isPgSettings(node['relation'])) facts.flags.add('dynamic_setting');
      // WHERE CURRENT OF is a whereClause too (CurrentOfExpr): it touches one row. A clause that
      // reads no column (WHERE true, WHERE 1 = 1) selects every row, so it counts as none.
      const where = node['whereClause'];
      if (where === undefined || (!referencesColumn(where) && asNode(where)?.['CurrentOfExpr'] === undefined)) facts.hasWhere = false;
      break;
    }
    case 'MergeStmt':
      // MERGE … ON true WHEN MATCHED THEN DELETE rewrites every row, like a DELETE without WHERE.
      if (!referencesColumn(node['joinCondition'])) {
        const unconditional = asList(node['mergeWhenClauses']).some((clause) => {
          const when = asNode(clause)?.['MergeWhenClause'] as Record<string, unknown> | undefined;
          return when !== undefined && when['condition'] === undefined && (when['commandType'] === 'CMD_UPDATE' || when['commandType'] === 'CMD_DELETE');
        });
        if (unconditional) facts.hasWhere = false;
      }
      break;
    case 'CopyStmt':
      facts.flags.add(copyFlag(node));
      break;
    case 'DoStmt':
      // no PL/pgSQL parser in libpg-query's WASM build: whatever the block runs goes unseen
      facts.flags.add('do_block');
      facts.flags.add('dynamic_sql');
      break;
    case 'CreateFunctionStmt':
      functionBody(node, facts, depth, walkStatement);
      break;
    case 'VariableSetStmt':
      // SET … TO DEFAULT, RESET and FROM CURRENT keep the value the session already lexes with
      if (node['name'] === STRING_SYNTAX_SETTING && node['kind'] === 'VAR_SET_VALUE') stringSyntax(asList(node['args'])[0], facts);
      break;
    case 'PrepareStmt':
      if (typeof node['name'] === 'string') facts.prepared.add(node['name']);
      break;
    case 'ExecuteStmt':
      if (typeof node['name'] === 'string') facts.executed.add(node['name']);
      break;
    case 'DeclareCursorStmt':
      if (typeof node['portalname'] === 'string') facts.declared.add(node['portalname']);
      break;
    case 'FetchStmt':
      if (typeof node['portalname'] === 'string') facts.fetched.add(node['portalname']);
      break;
    case 'FuncCall':
      addFunction(node, facts, depth);
      break;
    case 'DefineStmt':
      functionOptions(node['definition'], facts);
      break;
    case 'AlterOperatorStmt':
    case 'AlterTypeStmt':
      functionOptions(node['options'], facts);
      break;
    case 'RangeVar':
      addTable(node, scope, facts);
      break;
    case 'DropStmt':
      if (TABLE_LIKE_DROPS.has(node['removeType'] as string)) {
        for (const obj of asList(node['objects'])) {
          const parts = asList(asNode(asNode(obj)?.['List'])?.['items']).map(sval);
          if (parts.length > 0 && parts.every((p) => p !== undefined)) facts.tables.add(parts.join('.'));
        }
      }
      break;
  }
}

function isStarTarget(target: unknown): boolean {
  const ref = asNode(asNode(asNode(asNode(target)?.['ResTarget'])?.['val'])?.['ColumnRef']);
  return asList(ref?.['fields']).some((f) => asNode(f)?.['A_Star'] !== undefined);
}

function copyFlag(node: Node): SqlFlag {
  const from = node['is_from'] === true;
  if (node['is_program'] === true) return from ? 'copy_from_program' : 'copy_to_program';
  if (typeof node['filename'] === 'string') return from ? 'copy_from_file' : 'copy_to_file';
  return from ? 'copy_from_stdin' : 'copy_to_stdout';
}

/**
 * Names come folded by the parser: unquoted identifiers lower-cased, quoted ones kept.
 * An unqualified name that a visible CTE defines is that CTE, not a table.
 */
function addTable(rangeVar: Node, scope: Scope, facts: TreeFacts): void {
  const relname = rangeVar['relname'] as string;
  const schema = rangeVar['schemaname'];
  const catalog = rangeVar['catalogname'];
  if (typeof schema !== 'string') {
    if (scope?.has(relname)) return;
    facts.tables.add(relname);
    return;
  }
  facts.tables.add(typeof catalog === 'string' ? `${catalog}.${schema}.${relname}` : `${schema}.${relname}`);
}

/** Options of CREATE OPERATOR / AGGREGATE / TYPE … that name a function the object will call. */
const FUNCTION_OPTIONS = new Set([
  'function',
  'procedure',
  'sfunc',
  'finalfunc',
  'combinefunc',
  'serialfunc',
  'deserialfunc',
  'msfunc',
  'minvfunc',
  'mfinalfunc',
  'input',
  'output',
  'receive',
  'send',
  'typmod_in',
  'typmod_out',
  'analyze',
  'subscript',
  'restrict',
  'join',
]);

/** Lower-cased name parts, or null when a part is not a plain name. */
function nameParts(list: unknown): string[] | null {
  const parts = asList(list).map(sval);
  if (parts.length === 0 || parts.some((p) => p === undefined)) return null;
  return (parts as string[]).map((p) => p.toLowerCase());
}

function addNames(names: readonly string[], facts: TreeFacts): string {
  const bare = names[names.length - 1]!;
  facts.functions.add(bare);
  if (names.length > 1) facts.functions.add(names.join('.'));
  return bare;
}

/**
 * Lower-cased even when quoted: a quoted "PG_SLEEP" is a different function that rarely exists,
 * and matching it as pg_sleep can only make a rule stricter, never looser.
 */
function addFunction(call: Node, facts: TreeFacts, depth: number): void {
  const names = nameParts(call['funcname']);
  if (names === null) return;
  inspectCall(addNames(names, facts), call, facts, depth, walkStatement);
}

/**
 * A function named without being called here (an operator's, a cast's or an aggregate's function,
 * ALTER/DROP FUNCTION): listed as called, since the object made from it calls it later. Bound to
 * an operator or a cast, a function that runs SQL runs its operand, which no literal shows.
 */
function addFunctionReference(list: unknown, facts: TreeFacts): void {
  const names = nameParts(list);
  if (names === null) return;
  const bare = addNames(names, facts);
  if (SQL_RUNNING_FUNCTIONS.has(bare)) facts.flags.add('dynamic_sql');
  if (bare === 'set_config') facts.flags.add('dynamic_setting');
}

/** The functions CREATE OPERATOR / AGGREGATE / TYPE (or ALTER OPERATOR / TYPE) binds by option. */
function functionOptions(options: unknown, facts: TreeFacts): void {
  for (const option of asList(options)) {
    const def = asNode(asNode(option)?.['DefElem']);
    if (def === null || !FUNCTION_OPTIONS.has(def['defname'] as string)) continue;
    // `function = 'ts_stat'` names it with a string literal the fingerprint masks, yet no A_Const seals
    if (asNode(def['arg'])?.['String'] !== undefined) facts.readsLiterals = true;
    addFunctionReference(typeNames(def['arg']), facts);
  }
}

/** The name list of an option's value: a type-like name (`function = f`) or a qualified one. */
function typeNames(arg: unknown): unknown {
  const node = asNode(arg);
  return asNode(node?.['TypeName'])?.['names'] ?? asNode(node?.['List'])?.['items'] ?? (node?.['String'] !== undefined ? [node] : undefined);
}

function isPgSettings(relation: unknown): boolean {
  return asNode(relation)?.['relname'] === 'pg_settings';
}

/**
 * Whether an expression reads any column (anywhere inside it, subqueries included). Constants are
 * not opened: `WHERE 1 = 2` counts as no WHERE just like `WHERE 1 = 1`, whatever the values.
 */
function referencesColumn(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(referencesColumn);
  if (value === null || typeof value !== 'object') return false;
  for (const key in value) {
    if (key === 'ColumnRef') return true;
    if (key !== 'A_Const' && referencesColumn((value as Node)[key])) return true;
  }
  return false;
}
