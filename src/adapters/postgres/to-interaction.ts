/**
 * Frames → the pipeline's RequestDraft: a simple Query, or an extended-protocol Execute of a
 * portal (its statement's text and facts, and the Bind parameters, recorded with the request).
 */
import { createHash } from 'node:crypto';
import type { SqlFacts } from '../../interaction.ts';
import type { RequestDraft } from '../../pipeline.ts';
import { classifySql, sqlStatementNames } from '../../classify/sql.ts';
import type { Columns } from './backend-frames.ts';

export interface StatementEntry {
  readonly sql: string;
  readonly facts: SqlFacts;
  /** Parameter types a Parse declared (none for a statement prepared in SQL). */
  readonly paramTypes?: readonly number[];
  /** From a Describe of the statement; what an Execute without its own Describe returns. */
  columns: Columns | null;
}

export interface PortalEntry {
  readonly statement: StatementEntry;
  /** Text parameters; binary ones are shown by size only. */
  readonly params: readonly (string | null)[];
  readonly resultFormats: readonly number[];
  /** From a Describe of the portal (formats as they will be sent). */
  columns: Columns | null;
  readonly bindBytes: number;
  /** exactExecute() of the statement and its Bind. */
  readonly exact: string;
}

/** The union of what two classifications say: a statement that may be either is checked as both. */
export function mergeFacts(a: SqlFacts, b: SqlFacts): SqlFacts {
  if (a === b) return a;
  const flags: Record<string, boolean> = { ...a.flags };
  for (const [k, v] of Object.entries(b.flags)) flags[k] = (flags[k] ?? false) || v;
  return Object.freeze({
    text: b.text,
    kinds: Object.freeze([...new Set([...a.kinds, ...b.kinds])]),
    tables: Object.freeze([...new Set([...a.tables, ...b.tables])]),
    hasWhere: a.hasWhere && b.hasWhere,
    functions: Object.freeze([...new Set([...a.functions, ...b.functions])]),
    multiStatement: a.multiStatement || b.multiStatement,
    parseError: a.parseError ?? b.parseError,
    flags: Object.freeze(flags),
  });
}

export function mergeStatements(a: StatementEntry, b: StatementEntry): StatementEntry {
  return { sql: b.sql, facts: mergeFacts(a.facts, b.facts), ...(b.paramTypes ? { paramTypes: b.paramTypes } : {}), columns: null };
}

/** SHA-256 over length-prefixed parts: no two lists of parts share an encoding. */
function digest(parts: readonly (string | Buffer | null)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    if (part === null) hash.update('-1;');
    else hash.update(`${Buffer.byteLength(part)}:`).update(part);
  }
  return hash.digest('hex');
}

/** What a simple Query runs: its whole text, however long (the draft's copy is clipped). */
export function exactQuery(sql: string): string {
  return digest(['query', sql]);
}

/**
 * What an Execute runs: the statement's whole text, its declared parameter types, and each
 * parameter's format and bytes (the draft shows binary and long values abridged).
 */
export function exactExecute(statement: StatementEntry, formats: readonly number[], params: readonly (Buffer | null)[]): string {
  return digest(['execute', statement.sql, (statement.paramTypes ?? []).join(','), formats.join(','), String(params.length), ...params]);
}

/**
 * Facts for a text that uses prepared statements or cursors by name (`EXECUTE p`, `FETCH c`):
 * what those were prepared or declared with counts too, so a FETCH from a cursor over a masked
 * table is masked, and an EXECUTE of a DELETE is a delete. An unknown name is a parse error.
 */
export function factsWithNamed(
  facts: SqlFacts,
  statement: (name: string) => StatementEntry | undefined,
  cursor: (name: string) => StatementEntry | undefined,
): SqlFacts {
  const { executed, fetched } = sqlStatementNames(facts);
  let out = facts;
  for (const name of executed) out = mergeFacts(out, statement(name)?.facts ?? unknownName(facts.text, 'prepared statement', name));
  for (const name of fetched) out = mergeFacts(out, cursor(name)?.facts ?? unknownName(facts.text, 'cursor', name));
  return out;
}

function unknownName(text: string, what: string, name: string): SqlFacts {
  const facts = classifySql('');
  return Object.freeze({
    ...facts,
    text,
    parseError: `${what} "${name}" is unknown to the gateway`,
    flags: Object.freeze({ ...facts.flags, empty: false, parse_error: true }),
  });
}

/**
 * Entity detection and the recording see at most this much of a statement and of each parameter:
 * a bulk load of megabytes must not be scanned (or redacted, then clipped) whole on every statement.
 * Policy still classifies the full statement text (up to the classifier's own limit).
 */
export const MAX_SCANNED_CHARS = 64 * 1024;

function clip(text: string): string {
  return text.length <= MAX_SCANNED_CHARS ? text : `${text.slice(0, MAX_SCANNED_CHARS)}…[${text.length - MAX_SCANNED_CHARS} more characters]`;
}

export function queryDraft(sql: string, facts: SqlFacts, bytesIn: number): RequestDraft {
  const shown = clip(sql);
  return {
    kind: 'sql.query',
    summary: { sql: facts },
    scanText: shown,
    body: { type: 'text', text: shown },
    method: null,
    target: shown,
    model: null,
    bytesIn,
    exact: () => exactQuery(sql),
  };
}

export function executeDraft(portal: PortalEntry, facts: SqlFacts, bytesIn: number): RequestDraft {
  const sql = clip(portal.statement.sql);
  const params = portal.params;
  return {
    kind: 'sql.query',
    summary: { sql: facts },
    // parameters are scanned too, so a rule on request.entities sees values sent as $1 …
    scanText: params.length === 0 ? sql : `${sql}\n${params.filter((p) => p !== null).join('\n')}`,
    body: params.length === 0 ? { type: 'text', text: sql } : { type: 'json', value: { sql, params } },
    method: null,
    target: sql,
    model: null,
    bytesIn,
    exact: () => portal.exact,
  };
}

/** Bind parameter values for the recording and the entity scan: text as text, binary by size. */
export function describeParams(values: readonly (Buffer | null)[], formats: readonly number[]): (string | null)[] {
  const out: (string | null)[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : formats[i];
    if (format === 1) out[i] = `[binary ${v.length} bytes]`;
    else if (v.length <= MAX_SCANNED_CHARS) out[i] = v.toString('utf8');
    else out[i] = `${v.toString('utf8', 0, MAX_SCANNED_CHARS)}…[${v.length - MAX_SCANNED_CHARS} more bytes]`;
  }
  return out;
}

/** Result column formats a Bind asked for, per column (none: all text; one: all the same). */
export function wantsBinary(resultFormats: readonly number[]): boolean {
  return resultFormats.some((f) => f === 1);
}
