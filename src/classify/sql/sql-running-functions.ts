/**
 * Functions that run SQL text handed to them as an argument, and where that text sits among the
 * arguments. The walker classifies a literal found there with the same facts as the outer
 * statement; anything else there (a column, a concatenation, a `$1` parameter, a subquery) is SQL
 * the gateway cannot read, and the statement is flagged `dynamic_sql`.
 *
 * Matched by bare lower-cased name whatever the schema: an extension can be installed in any
 * schema, and a same-named function of one's own only ever makes the classification stricter.
 *
 * PostgreSQL built-ins (pg_proc): query_to_xml, query_to_xmlschema, query_to_xml_and_xmlschema and
 * ts_stat (argument `query`), ts_rewrite(tsquery, text) (its second argument, a SELECT). Contrib
 * and common extensions: dblink (dblink, dblink_exec, dblink_open, dblink_send_query), tablefunc
 * (crosstab…, connectby), xml2 (xpath_table), pg_cron, pg_background, pglogical, Citus.
 */

type Node = Readonly<Record<string, unknown>>;

export interface SqlRunningFunction {
  /** Positions of the SQL text among the positional arguments (named ones left out). */
  readonly positions: (args: readonly unknown[]) => readonly number[];
  /** Parameter names that hold SQL text, for `f(query => '…')`. */
  readonly named: readonly string[];
  /** Classified as a table name (`TABLE <name>`), not as a statement: table_to_xml's regclass. */
  readonly table?: true;
  /**
   * Builds SQL from pieces it pastes in unquoted (connectby, xpath_table), runs a command template
   * (Citus), or reads tables the call does not name (schema_to_xml, database_to_xml): nothing to
   * classify, always `dynamic_sql`.
   */
  readonly opaque?: true;
}

const first = (): readonly number[] => [0];
const last = (args: readonly unknown[]): readonly number[] => (args.length === 0 ? [] : [args.length - 1]);
const third = (args: readonly unknown[]): readonly number[] => (args.length >= 3 ? [2] : []);

/** A trailing boolean constant (dblink's fail_on_error) is not the SQL: the text is the argument before it. */
const lastBeforeBoolean = (args: readonly unknown[]): readonly number[] => {
  const end = args.length > 0 && isBooleanConstant(args[args.length - 1]) ? args.length - 1 : args.length;
  return end === 0 ? [] : [end - 1];
};

/** crosstab(source_sql, category_sql) runs both; crosstab(source_sql, num_values) only the first. */
const crosstab = (args: readonly unknown[]): readonly number[] => (args.length >= 2 && !isNumberConstant(args[1]) ? [0, 1] : [0]);

const opaque: SqlRunningFunction = { positions: () => [], named: [], opaque: true };
const query: SqlRunningFunction = { positions: first, named: ['query'] };
const dblink: SqlRunningFunction = { positions: lastBeforeBoolean, named: [] };
const tableName: SqlRunningFunction = { positions: first, named: ['tbl'], table: true };

export const SQL_RUNNING_FUNCTIONS: ReadonlyMap<string, SqlRunningFunction> = new Map<string, SqlRunningFunction>([
  // PostgreSQL core
  ['query_to_xml', query],
  ['query_to_xmlschema', query],
  ['query_to_xml_and_xmlschema', query],
  ['ts_stat', query],
  // ts_rewrite(query, target, substitute) takes three tsqueries; ts_rewrite(query, select) runs the SELECT
  ['ts_rewrite', { positions: (args) => (args.length === 2 ? [1] : []), named: [] }],
  ['table_to_xml', tableName],
  ['table_to_xmlschema', tableName],
  ['table_to_xml_and_xmlschema', tableName],
  ['schema_to_xml', opaque],
  ['schema_to_xmlschema', opaque],
  ['schema_to_xml_and_xmlschema', opaque],
  ['database_to_xml', opaque],
  ['database_to_xmlschema', opaque],
  ['database_to_xml_and_xmlschema', opaque],
  // dblink: dblink([conn,] sql [, fail]), dblink_exec([conn,] sql [, fail]),
  // dblink_open([conn,] cursor, sql [, fail]), dblink_send_query(conn, sql)
  ['dblink', dblink],
  ['dblink_exec', dblink],
  ['dblink_open', dblink],
  ['dblink_send_query', dblink],
  // tablefunc
  ['crosstab', { positions: crosstab, named: [] }],
  ['crosstab2', { positions: first, named: [] }],
  ['crosstab3', { positions: first, named: [] }],
  ['crosstab4', { positions: first, named: [] }],
  ['connectby', opaque],
  // xml2
  ['xpath_table', opaque],
  // pg_cron: schedule([name,] schedule, command), schedule_in_database(name, schedule, command, db, …),
  // alter_job(id, schedule, command, …)
  // (generic names: only the argument counts pg_cron has, so that an application's schedule(42) passes)
  ['schedule', { positions: (args) => (args.length >= 2 ? last(args) : []), named: ['command'] }],
  ['schedule_in_database', { positions: third, named: ['command'] }],
  ['alter_job', { positions: third, named: ['command'] }],
  // pg_background, pglogical
  ['pg_background_launch', { positions: first, named: ['sql'] }],
  ['replicate_ddl_command', { positions: first, named: ['command'] }],
  // Citus: commands are templates with %s for shard names
  ['run_command_on_workers', opaque],
  ['run_command_on_all_nodes', opaque],
  ['run_command_on_coordinator', opaque],
  ['run_command_on_shards', opaque],
  ['run_command_on_placements', opaque],
  ['run_command_on_colocated_placements', opaque],
]);

function constant(arg: unknown): Node | undefined {
  return (arg as Node | null)?.['A_Const'] as Node | undefined;
}

function isBooleanConstant(arg: unknown): boolean {
  const c = constant(arg);
  if (c !== undefined) return c['boolval'] !== undefined;
  const cast = (arg as Node | null)?.['TypeCast'] as Node | undefined;
  const names = ((cast?.['typeName'] as Node | undefined)?.['names'] as unknown[] | undefined) ?? [];
  const last = (names[names.length - 1] as Node | undefined)?.['String'] as Node | undefined;
  return last?.['sval'] === 'bool' || last?.['sval'] === 'boolean';
}

/** Which field holds the value is the literal's type, part of the shape: reading it reads no value. */
function isNumberConstant(arg: unknown): boolean {
  const c = constant(arg);
  return c !== undefined && (c['ival'] !== undefined || c['fval'] !== undefined);
}
