/**
 * What a function call does beyond being called: SQL text it runs (sql-running-functions.ts), a
 * setting it changes (set_config), and SQL-language function bodies. The text comes from the
 * sealed tree (literals.ts), so reading it marks the facts as holding for this exact text only:
 * two statements that differ only in the SQL inside query_to_xml('…') never share facts.
 */
import { parseSync } from 'libpg-query';
import { SQL_RUNNING_FUNCTIONS } from './sql-running-functions.ts';
import type { SqlRunningFunction } from './sql-running-functions.ts';
import { IDENTITY_SETTINGS } from './statement-kinds.ts';
import type { TreeFacts } from './tree-facts.ts';

type Node = Readonly<Record<string, unknown>>;
export type Walk = (stmt: Node, facts: TreeFacts, depth: number) => void;

/**
 * How deep SQL run by a function may hold SQL run by a function. Real queries do not nest; each
 * level doubles its quotes or adds a dollar-quote tag. Deeper text is flagged `dynamic_sql`.
 */
export const MAX_SQL_NESTING = 4;

const asNode = (v: unknown): Node | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : null);
const asList = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

/** Casts that keep a string's text whole: `'…'::varchar(8)` or `::name` would cut it, so they count as unreadable. */
const WHOLE_TEXT_TYPES: ReadonlySet<string> = new Set(['text', 'varchar']);
/** table_to_xml's argument is a regclass: `'orders'::regclass` names the same table as `'orders'`. */
const TABLE_NAME_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'regclass']);

/**
 * The text of a string literal argument (under whole-text casts and COLLATE), `null` for a NULL
 * constant (the function runs nothing), `undefined` for anything else: a column, a parameter, a
 * concatenation, a number, a subquery, a cutting cast.
 */
export function literalText(arg: unknown, types: ReadonlySet<string> = WHOLE_TEXT_TYPES): string | null | undefined {
  let node = asNode(arg);
  for (;;) {
    const cast = asNode(node?.['TypeCast']);
    if (cast !== null) {
      const typeName = asNode(cast['typeName']);
      const names = asList(typeName?.['names']);
      const last = asNode(asNode(names[names.length - 1])?.['String'])?.['sval'];
      if (typeName?.['typmods'] !== undefined || typeName?.['arrayBounds'] !== undefined || !types.has(last as string)) return undefined;
      node = asNode(cast['arg']);
      continue;
    }
    const collate = asNode(node?.['CollateClause']);
    if (collate !== null) {
      node = asNode(collate['arg']);
      continue;
    }
    break;
  }
  const constant = asNode(node?.['A_Const']);
  if (constant === null) return undefined;
  if (constant['isnull'] === true) return null;
  const payload = asNode(constant['sval']);
  if (payload === null) return undefined;
  // the sealed getter: this read marks the facts as literal-dependent
  const text = payload['sval'];
  return typeof text === 'string' ? text : '';
}

/** Looks into one call whose bare lower-cased name is `name`. */
export function inspectCall(name: string, call: Node, facts: TreeFacts, depth: number, walk: Walk): void {
  if (name === 'set_config') {
    setConfig(call, facts);
    return;
  }
  const spec = SQL_RUNNING_FUNCTIONS.get(name);
  if (spec !== undefined) runsSql(spec, call, facts, depth, walk);
}

function runsSql(spec: SqlRunningFunction, call: Node, facts: TreeFacts, depth: number, walk: Walk): void {
  if (spec.opaque === true || call['agg_star'] === true || call['func_variadic'] === true) {
    facts.flags.add('dynamic_sql');
    return;
  }
  const args = asList(call['args']);
  const positional = args.filter((a) => asNode(a)?.['NamedArgExpr'] === undefined);
  const texts: unknown[] = spec.positions(positional).map((i) => positional[i]);
  for (const arg of args) {
    const named = asNode(asNode(arg)?.['NamedArgExpr']);
    if (named !== null && spec.named.includes(String(named['name']).toLowerCase())) texts.push(named['arg']);
  }
  for (const arg of texts) {
    if (arg === undefined) continue; // too few arguments: PostgreSQL finds no such function
    const text = literalText(arg, spec.table === true ? TABLE_NAME_TYPES : WHOLE_TEXT_TYPES);
    if (text === undefined) facts.flags.add('dynamic_sql');
    else if (text !== null) classifyNested(spec.table === true ? `TABLE ${text}` : text, facts, depth + 1, walk);
  }
}

/**
 * Adds the facts of SQL text a function runs. A text that does not parse fails the same way inside
 * PostgreSQL, but is flagged `parse_error` all the same: the gateway agrees only to what it read.
 */
export function classifyNested(text: string, facts: TreeFacts, depth: number, walk: Walk): void {
  if (depth > MAX_SQL_NESTING) {
    facts.flags.add('dynamic_sql');
    return;
  }
  if (text.trim() === '') return;
  if (text.includes('\0')) {
    facts.flags.add('parse_error');
    return;
  }
  let statements: readonly { stmt?: Node }[];
  try {
    statements = (parseSync(text) as { stmts?: { stmt?: Node }[] }).stmts ?? [];
  } catch {
    facts.flags.add('parse_error');
    return;
  }
  if (statements.length > 1) facts.nestedMultiStatement = true;
  for (const { stmt } of statements) if (stmt !== undefined) walk(stmt, facts, depth);
}

/**
 * set_config(name, value, is_local) is SET name = value: the same kinds, `set_role` included. A
 * name the gateway cannot read could be any setting: `dynamic_setting`.
 */
function setConfig(call: Node, facts: TreeFacts): void {
  facts.kinds.add('set');
  // set_config has no parameter names (pg_proc), so the name is always the first argument
  const name = literalText(asList(call['args'])[0]);
  if (name === null) return; // set_config(NULL, …) is an error
  if (name === undefined) {
    facts.flags.add('dynamic_setting');
    return;
  }
  // setting names are case-insensitive; set_config takes the name as given, spaces included
  const precise = IDENTITY_SETTINGS[name.toLowerCase()];
  if (precise !== undefined) facts.kinds.add(precise);
  if (name.toLowerCase() === STRING_SYNTAX_SETTING) stringSyntax(asList(call['args'])[1], facts);
}

/**
 * With standard_conforming_strings off the server reads a backslash in '…' as an escape, while
 * the parser here always reads it as a character: from then on the session's statements lex
 * differently on each side, and the gateway would approve text the server reads otherwise.
 */
export const STRING_SYNTAX_SETTING = 'standard_conforming_strings';

/** Flags `nonstandard_strings` unless the value set is a literal `on`/`true`/`1`. */
export function stringSyntax(value: unknown, facts: TreeFacts): void {
  const constant = asNode(asNode(value)?.['A_Const']);
  const number = asNode(constant?.['ival']);
  if (number !== null && number['ival'] === 1) return;
  const text = literalText(value);
  if (typeof text === 'string' && ['on', 'true'].includes(text.trim().toLowerCase())) return;
  facts.flags.add('nonstandard_strings');
}

/**
 * CREATE FUNCTION … LANGUAGE sql AS '<body>': the body is SQL text, classified like any other.
 * Bodies in other languages (PL/pgSQL above all: libpg-query's WASM build has no PL/pgSQL parser)
 * hold SQL the gateway cannot see. BEGIN ATOMIC bodies are parsed already (sql_body).
 */
export function functionBody(stmt: Node, facts: TreeFacts, depth: number, walk: Walk): void {
  let language: string | undefined;
  let body: unknown;
  for (const option of asList(stmt['options'])) {
    const def = asNode(asNode(option)?.['DefElem']);
    if (def?.['defname'] === 'language') language = asNode(asNode(def['arg'])?.['String'])?.['sval'] as string | undefined;
    if (def?.['defname'] === 'as') body = def['arg'];
  }
  if (body === undefined) return;
  // LANGUAGE 'sql' and AS '…' are string literals to the fingerprint, yet plain strings in the tree: not sealed
  facts.readsLiterals = true;
  if (language?.toLowerCase() !== 'sql') {
    facts.flags.add('dynamic_sql');
    return;
  }
  const items = asList(asNode(asNode(body)?.['List'])?.['items']);
  const text = asNode(asNode(items[0])?.['String'])?.['sval'];
  if (items.length === 1 && typeof text === 'string') classifyNested(text, facts, depth + 1, walk);
  else facts.flags.add('dynamic_sql');
}
