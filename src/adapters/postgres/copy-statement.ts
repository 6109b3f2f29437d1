/**
 * What each `COPY … TO STDOUT` of a statement text will send, read from PostgreSQL's parse tree:
 * the format and its options, and the column names when the statement says them. Masking by
 * column needs the names; when the statement does not give them, the gateway adds HEADER to the
 * COPY it sends (and drops that header before the client sees it): the server then names the
 * columns itself, exactly as it resolved them in this session (search_path, temporary tables),
 * which no catalog lookup on another connection could promise.
 */
import { parseSync } from 'libpg-query';
import type { CopyFormat } from './copy-format.ts';

export interface CopyOutPlan {
  /** Null when the output cannot be masked; `refusal` says why. */
  readonly format: CopyFormat | null;
  readonly refusal: string | null;
  /** From the statement's column list; otherwise the header record says them. */
  readonly names: readonly string[] | null;
  /** A header record starts the output: the client's own (forwarded) or the gateway's (dropped). */
  readonly header: 'none' | 'client' | 'added';
}

export interface CopyOutStatements {
  /** One per top-level COPY … TO STDOUT, in statement order (the order of their CopyOutResponses). */
  readonly plans: readonly CopyOutPlan[];
  /** The text to send instead (HEADER added where names were unknown), or null to send the client's. */
  readonly rewritten: string | null;
}

type Node = Readonly<Record<string, unknown>>;
interface RawStmt {
  readonly stmt?: Node;
  readonly stmt_location?: number;
  readonly stmt_len?: number;
}

/** Every COPY option PostgreSQL 17 knows; another could change the output's shape, so it is refused. */
const KNOWN_OPTIONS = new Set([
  'format', 'header', 'delimiter', 'null', 'quote', 'escape', 'encoding', 'force_quote', 'force_not_null',
  'force_null', 'freeze', 'default', 'on_error', 'log_verbosity', 'reject_limit',
]);
const NONE: readonly CopyOutPlan[] = Object.freeze([]);

/**
 * Plans the COPY … TO STDOUT statements of `sql`. With `addHeaders`, a COPY whose column names
 * are unknown gets HEADER in `rewritten`, checked by parsing the new text: it must be the same
 * statements with only that option added, or the COPY is left as it was (and withheld).
 */
export function planCopyOut(sql: string, addHeaders: boolean): CopyOutStatements {
  let stmts: readonly RawStmt[];
  try {
    stmts = (parseSync(sql) as { stmts?: RawStmt[] }).stmts ?? [];
  } catch {
    return { plans: NONE, rewritten: null };
  }
  const plans: CopyOutPlan[] = [];
  const inserts: { at: number; text: string }[] = [];
  const bytes = Buffer.from(sql, 'utf8');
  stmts.forEach((raw, i) => {
    const copy = asNode(raw.stmt?.['CopyStmt']);
    if (copy === null || copy['is_from'] === true || copy['is_program'] === true || typeof copy['filename'] === 'string') return;
    const plan = planOne(copy);
    if (plan.refusal === null && plan.names === null && plan.header === 'none' && addHeaders) {
      const insert = headerInsert(bytes, raw, copy, i === stmts.length - 1);
      if (insert !== null) {
        inserts.push(insert);
        plans.push({ ...plan, header: 'added' });
        return;
      }
    }
    plans.push(plan);
  });
  if (inserts.length === 0) return { plans, rewritten: null };
  const rewritten = splice(bytes, inserts);
  if (sameButHeaders(stmts, rewritten)) return { plans, rewritten };
  // the added option did not land where it was meant to: send the client's text and withhold what needs names
  return { plans: plans.map((p) => (p.header === 'added' ? { ...p, header: 'none' } : p)), rewritten: null };
}

function planOne(copy: Node): CopyOutPlan {
  const refuse = (refusal: string): CopyOutPlan => ({ format: null, refusal, names: null, header: 'none' });
  const seen = new Set<string>();
  let format = 'text';
  let header = false;
  let delimiter: string | null = null;
  let nullString: string | null = null;
  let quote = '"';
  let escape: string | null = null;
  for (const item of asList(copy['options'])) {
    const def = asNode(asNode(item)?.['DefElem']);
    const name = def?.['defname'];
    if (def === null || typeof name !== 'string') return refuse('a COPY option the gateway cannot read');
    if (!KNOWN_OPTIONS.has(name)) return refuse(`the COPY option ${name} is not known to the gateway`);
    if (seen.has(name)) return refuse(`the COPY option ${name} is given twice`);
    seen.add(name);
    const arg = asNode(def['arg']);
    const text = stringArg(arg);
    switch (name) {
      case 'format':
        if (text !== 'text' && text !== 'csv' && text !== 'binary') return refuse('an unknown COPY format');
        format = text;
        break;
      case 'header': {
        const on = headerArg(arg);
        if (on === null) return refuse('a COPY HEADER value the gateway cannot read');
        header = on;
        break;
      }
      case 'delimiter':
      case 'quote':
      case 'escape':
        if (text === null || Buffer.byteLength(text) !== 1) return refuse(`a COPY ${name.toUpperCase()} that is not one byte`);
        if (name === 'delimiter') delimiter = text;
        else if (name === 'quote') quote = text;
        else escape = text;
        break;
      case 'null':
        if (text === null) return refuse('a COPY NULL value the gateway cannot read');
        nullString = text;
        break;
      case 'encoding':
        // values are read and masked as UTF-8; output in another encoding would be misread
        if (text === null || !['utf8', 'unicode'].includes(text.toLowerCase().replace(/[^a-z0-9]/g, ''))) {
          return refuse('COPY output in an encoding other than UTF8 cannot be masked (remove ENCODING)');
        }
        break;
    }
  }
  if (format === 'binary') return refuse('COPY output in binary format cannot be masked (use FORMAT text or csv)');
  const csv = format === 'csv';
  const names = asList(copy['attlist']).map((a) => stringArg(asNode(a)));
  return {
    format: {
      csv,
      delimiter: Buffer.from(delimiter ?? (csv ? ',' : '\t'))[0]!,
      nullString: Buffer.from(nullString ?? (csv ? '' : '\\N'), 'utf8'),
      quote: Buffer.from(quote)[0]!,
      escape: Buffer.from(escape ?? quote)[0]!,
    },
    refusal: null,
    names: names.length > 0 && names.every((n) => n !== null) ? (names as string[]) : null,
    header: header ? 'client' : 'none',
  };
}

/** PostgreSQL's reading of HEADER: no value, a boolean, 0 or 1, or true/false/on/off; null for anything else (MATCH is COPY FROM's). */
function headerArg(arg: Node | null): boolean | null {
  if (arg === null) return true;
  const b = asNode(arg['Boolean']);
  if (b !== null) return b['boolval'] === true;
  const i = asNode(arg['Integer']);
  if (i !== null) return i['ival'] === 1 ? true : i['ival'] === undefined || i['ival'] === 0 ? false : null;
  const s = stringArg(arg)?.toLowerCase();
  return s === 'true' || s === 'on' ? true : s === 'false' || s === 'off' ? false : null;
}

/**
 * Where HEADER goes: first in the option list (`WITH (HEADER true, FORMAT csv)`, or a legacy list
 * `HEADER CSV`), or a new list after the statement, on a new line so a trailing `--` comment ends first.
 */
function headerInsert(bytes: Buffer, raw: RawStmt, copy: Node, last: boolean): { at: number; text: string } | null {
  const first = asNode(asNode(asList(copy['options'])[0])?.['DefElem']);
  if (first !== null) {
    const at = first['location'];
    if (typeof at !== 'number') return null;
    let p = at - 1;
    while (p >= 0 && (bytes[p] === 0x20 || bytes[p] === 0x09 || bytes[p] === 0x0a || bytes[p] === 0x0d)) p--;
    return { at, text: bytes[p] === 0x28 /* ( */ ? 'HEADER true, ' : 'HEADER ' };
  }
  const start = raw.stmt_location ?? 0;
  const end = raw.stmt_len === undefined || raw.stmt_len === 0 ? (last ? bytes.length : -1) : start + raw.stmt_len;
  return end < 0 ? null : { at: end, text: '\nWITH (HEADER true)' };
}

function splice(bytes: Buffer, inserts: readonly { at: number; text: string }[]): string {
  const parts: Buffer[] = [];
  let from = 0;
  for (const { at, text } of [...inserts].sort((a, b) => a.at - b.at)) {
    parts.push(bytes.subarray(from, at), Buffer.from(text, 'utf8'));
    from = at;
  }
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts).toString('utf8');
}

/** The rewritten text parses to the same statements, but for HEADER on the COPYs that had none. */
function sameButHeaders(before: readonly RawStmt[], text: string): boolean {
  let after: readonly RawStmt[];
  try {
    after = (parseSync(text) as { stmts?: RawStmt[] }).stmts ?? [];
  } catch {
    return false;
  }
  if (after.length !== before.length) return false;
  return before.every((b, i) => {
    const a = after[i]!;
    const copyAfter = asNode(a.stmt?.['CopyStmt']);
    const added = copyAfter !== null && !hasHeader(asNode(b.stmt?.['CopyStmt'])) && hasHeader(copyAfter);
    if (added && planOne(copyAfter).header !== 'client') return false;
    return shape(b.stmt, added) === shape(a.stmt, added);
  });
}

function hasHeader(copy: Node | null): boolean {
  return asList(copy?.['options']).some((o) => asNode(asNode(o)?.['DefElem'])?.['defname'] === 'header');
}

/** The tree without positions (they move by the insert), and without its HEADER option when one was added. */
function shape(stmt: Node | undefined, dropHeader: boolean): string {
  return JSON.stringify(stmt, (key, value: unknown) => {
    if (key === 'location') return undefined;
    if (dropHeader && key === 'options' && Array.isArray(value)) {
      const rest = value.filter((o) => asNode(asNode(o)?.['DefElem'])?.['defname'] !== 'header');
      // a list that held only the added HEADER is no list, as in the statement without it
      return rest.length === 0 ? undefined : rest;
    }
    return value;
  });
}

const asNode = (v: unknown): Node | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : null);
const asList = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);

function stringArg(arg: Node | null): string | null {
  const s = asNode(arg?.['String'])?.['sval'];
  return typeof s === 'string' ? s : null;
}
