import { celError, celFunc, CelScalar, isCelList, isCelMap, type CelResult } from '@bufbuild/cel';
import type { parse } from '@bufbuild/cel';

/**
 * A cost limit for CEL conditions (issue 19): @bufbuild/cel has no cost tracking of its own, so
 * the cost is worked out here, once from the parsed expression and once while it runs.
 *
 * At load, every condition gets a worst-case estimate from the largest inputs a request may
 * bring (INPUT_BOUNDS): each string a function reads costs its length, each loop (the macros
 * `all`, `exists`, `exists_one`, `map`, `filter`) costs its body times the length of its list.
 * A condition over CEL_COST_LIMIT is refused, naming its rule, before it can run.
 *
 * While it runs, each loop iteration is charged that body's own estimate against the same limit,
 * counted on the real inputs, which an agent controls (tool arguments, header maps, tool lists)
 * and which can be larger than the bounds. When the budget is spent every loop stops at its next
 * iteration and the condition fails, which denies the request naming the rule.
 */

type ParsedExpr = ReturnType<typeof parse>;
type Expr = NonNullable<ParsedExpr['expr']>;

/** Worst-case units one condition may spend: about a hundred reads of a 1 MiB prompt. */
export const CEL_COST_LIMIT = 100_000_000;

/** The size of a value: characters of a string or entries of a list or map, and an element's size. */
interface Size {
  readonly n: number;
  readonly elem?: Size;
  /** For a map: its keys, which a loop over the map visits. */
  readonly key?: Size;
}

const SCALAR: Size = { n: 1 };
const str = (n: number): Size => ({ n });
const list = (n: number, elem: Size): Size => ({ n, elem });
const NAME = str(256);
const LARGE_TEXT = str(1024 * 1024);
const map = (n: number, key: Size, elem: Size): Size => ({ n, key, elem });
/** What nothing is known of (a tool argument's value): a 1 MiB body as a list of 1 KiB strings. */
const UNKNOWN: Size = list(1024, str(1024));

/** The largest inputs the estimate assumes, by variable path. Documented in docs/policy.md. */
export const INPUT_BOUNDS: Readonly<Record<string, Size>> = {
  'identity.id': NAME,
  'identity.name': NAME,
  'identity.kind': str(32),
  'identity.groups': list(1000, NAME),
  'connection.name': NAME,
  'connection.type': str(32),
  'connection.tags': list(100, NAME),
  'request.kind': str(64),
  'request.entities': list(64, str(64)),
  'request.http.method': str(16),
  'request.http.path': str(8192),
  'request.http.query': str(8192),
  'request.http.headers': map(200, NAME, str(8192)),
  'request.llm.model': NAME,
  'request.llm.stream': SCALAR,
  'request.llm.message_text': LARGE_TEXT,
  'request.llm.tool_names': list(1000, NAME),
  'request.llm.max_tokens': SCALAR,
  'request.llm.estimated_input_tokens': SCALAR,
  'request.sql.text': LARGE_TEXT,
  'request.sql.kinds': list(1000, str(64)),
  'request.sql.tables': list(1000, NAME),
  'request.sql.has_where': SCALAR,
  'request.sql.functions': list(1000, NAME),
  'request.sql.multi_statement': SCALAR,
  'request.sql.parse_error': str(1024),
  'request.sql.flags': map(64, str(64), SCALAR),
  'request.mcp.method': NAME,
  'request.mcp.tool': NAME,
  // Tool arguments come in a request body: about 1 MiB in all, however it is split.
  'request.mcp.arguments': map(1024, NAME, str(1024)),
  // adapters/mcp/tool-flags.ts: a dozen short names at most.
  'request.mcp.tool_flags': list(16, str(32)),
  // adapters/s3: object keys are at most 1024 bytes, bucket names 63 characters.
  'request.s3.operation': str(64),
  'request.s3.bucket': str(63),
  'request.s3.key': str(1024),
  'request.s3.prefix': str(1024),
  'request.s3.size': SCALAR,
  'request.s3.content_type': NAME,
  'request.mcp.description_flags': list(16, str(32)),
  time: SCALAR,
  // The caller's live grants for the connection: at most 100 are read (store/grant-rows.ts), each a map of six fields.
  grants: list(100, map(6, str(32), str(500))),
};

/** Calls whose work does not grow with their arguments' sizes. */
const CONSTANT_CALLS = new Set([
  '_&&_', '_||_', '!_', '_?_:_', '@not_strictly_false', '__not_strictly_false__', '_[_]', '_[?_]', '-_',
  '_<_', '_<=_', '_>_', '_>=_', '_*_', '_/_', '_%_', '_-_', 'size', 'int', 'uint', 'double', 'bool', 'type', 'has', 'duration', 'timestamp',
  'getFullYear', 'getMonth', 'getDate', 'getDayOfMonth', 'getDayOfWeek', 'getDayOfYear', 'getHours', 'getMinutes', 'getSeconds', 'getMilliseconds',
]);

/** Calls whose result is as long as (the sum of) what they read; the rest return a scalar. */
const SIZED_RESULTS = new Set(['_+_', 'foldedText', 'lowerAscii', 'upperAscii', 'trim', 'substring', 'quote', 'sqlName', 'string', 'reverse', 'format', 'join']);

interface Estimate {
  readonly size: Size;
  /** Worst case, loops multiplied out. */
  readonly cost: number;
  /** Counting each nested loop's body once: what one iteration of an enclosing loop is charged. */
  readonly own: number;
}

export interface CostAnalysis {
  readonly estimate: number;
  /** The expression with every loop charging the budget; plan this one. */
  readonly instrumented: ParsedExpr;
}

/** Name of the internal function each loop calls; `@` keeps it out of what a condition can write. */
const CHARGE = '@gatehouse_charge';

let remaining = 0;
let spent = false;

/** The size a loop item actually has: a string's length, a list's or map's entries. */
function actualWeight(item: unknown): number {
  if (typeof item === 'string') return item.length;
  if (item instanceof Uint8Array) return item.length;
  if (isCelList(item) || isCelMap(item)) return item.size;
  return 1;
}

/** Registered with the condition environment (src/policy/cel.ts). */
export const COST_FUNCS = [
  celFunc(CHARGE, [CelScalar.INT, CelScalar.INT, CelScalar.DYN, CelScalar.BOOL], CelScalar.BOOL, (fixed: bigint, reads: bigint, item: unknown, go: boolean): boolean => {
    remaining -= Number(fixed) + Number(reads) * actualWeight(item);
    if (remaining < 0) spent = true;
    return spent ? false : go;
  }),
];

/** Runs one planned condition under the budget; a spent budget fails it whatever it returned. */
export function runWithinBudget(limit: number, run: () => unknown): unknown {
  remaining = limit;
  spent = false;
  try {
    const result = run();
    if (spent) return overBudget(limit);
    return result;
  } finally {
    spent = false;
  }
}

function overBudget(limit: number): CelResult {
  return celError(`the condition exceeded its cost limit of ${limit} units on this request's input (loops over large lists or maps), so it fails closed`);
}

/** Estimates `parsed` against INPUT_BOUNDS and returns a copy whose loops charge the budget. */
export function analyzeCost(parsed: ParsedExpr): CostAnalysis {
  const copy = structuredClone(parsed) as ParsedExpr;
  if (copy.expr === undefined) return { estimate: 0, instrumented: copy };
  let nextId = maxId(copy.expr) + 1n;
  const ids = () => nextId++;
  const { cost } = visit(copy.expr, new Map(), ids);
  return { estimate: cost, instrumented: copy };
}

function maxId(expr: Expr | undefined): bigint {
  if (expr === undefined) return 0n;
  let max = expr.id;
  forEachChild(expr, (child) => {
    const m = maxId(child);
    if (m > max) max = m;
  });
  return max;
}

function forEachChild(expr: Expr, fn: (child: Expr | undefined) => void): void {
  const k = expr.exprKind;
  switch (k.case) {
    case 'selectExpr':
      fn(k.value.operand);
      return;
    case 'callExpr':
      fn(k.value.target);
      k.value.args.forEach(fn);
      return;
    case 'listExpr':
      k.value.elements.forEach(fn);
      return;
    case 'structExpr':
      for (const e of k.value.entries) {
        if (e.keyKind.case === 'mapKey') fn(e.keyKind.value);
        fn(e.value);
      }
      return;
    case 'comprehensionExpr':
      fn(k.value.iterRange);
      fn(k.value.accuInit);
      fn(k.value.loopCondition);
      fn(k.value.loopStep);
      fn(k.value.result);
      return;
    default:
      return;
  }
}

function pathOf(expr: Expr): string | undefined {
  const fields: string[] = [];
  let e: Expr | undefined = expr;
  while (e?.exprKind.case === 'selectExpr') {
    fields.unshift(e.exprKind.value.field);
    e = e.exprKind.value.operand;
  }
  if (e?.exprKind.case !== 'identExpr') return undefined;
  return [e.exprKind.value.name, ...fields].join('.');
}

const add = (...xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mul = (a: number, b: number) => Math.min(Number.MAX_SAFE_INTEGER, a * b);

function visit(expr: Expr | undefined, scope: ReadonlyMap<string, Size>, ids: (() => bigint) | undefined): Estimate {
  if (expr === undefined) return { size: SCALAR, cost: 0, own: 0 };
  const k = expr.exprKind;
  switch (k.case) {
    case 'constExpr': {
      const v = k.value.constantKind;
      const n = v.case === 'stringValue' ? v.value.length : v.case === 'bytesValue' ? v.value.length : 1;
      return { size: str(Math.max(1, n)), cost: 1, own: 1 };
    }
    case 'identExpr':
      return { size: scope.get(k.value.name) ?? INPUT_BOUNDS[k.value.name] ?? UNKNOWN, cost: 1, own: 1 };
    case 'selectExpr': {
      const path = pathOf(expr);
      const operand = visit(k.value.operand, scope, ids);
      const root = path?.split('.')[0];
      const known = path !== undefined && root !== undefined && !scope.has(root) ? INPUT_BOUNDS[path] : undefined;
      // A field of a map (headers, flags, tool arguments) is one of its values.
      return { size: known ?? operand.size.elem ?? UNKNOWN, cost: operand.cost + 1, own: operand.own + 1 };
    }
    case 'listExpr': {
      const parts = k.value.elements.map((e) => visit(e, scope, ids));
      const elem = parts.reduce<Size>((a, p) => (p.size.n > a.n ? p.size : a), SCALAR);
      return { size: list(parts.length, elem), cost: add(1, ...parts.map((p) => p.cost)), own: add(1, ...parts.map((p) => p.own)) };
    }
    case 'structExpr': {
      const parts = k.value.entries.flatMap((e) => [e.keyKind.case === 'mapKey' ? visit(e.keyKind.value, scope, ids) : undefined, visit(e.value, scope, ids)]).filter((p) => p !== undefined);
      return { size: map(k.value.entries.length, UNKNOWN.elem!, UNKNOWN), cost: add(1, ...parts.map((p) => p.cost)), own: add(1, ...parts.map((p) => p.own)) };
    }
    case 'callExpr': {
      const { function: name } = k.value;
      const parts = [k.value.target, ...k.value.args].filter((e) => e !== undefined).map((e) => visit(e, scope, ids));
      const read = CONSTANT_CALLS.has(name) || name === CHARGE ? 0 : add(...parts.map((p) => weight(p.size)));
      const size = resultSize(name, parts);
      // Lists concatenate lazily (a map or filter appends to its accumulator in constant time).
      const lists = name === '_+_' && parts.every((p) => p.size.elem !== undefined);
      const work = lists ? 0 : name === 'replace' || name === 'split' ? read + weight(size) : read;
      return { size, cost: add(1, work, ...parts.map((p) => p.cost)), own: add(1, work, ...parts.map((p) => p.own)) };
    }
    case 'comprehensionExpr': {
      const c = k.value;
      const range = visit(c.iterRange, scope, ids);
      const init = visit(c.accuInit, scope, ids);
      const inner = new Map(scope);
      inner.set(c.iterVar, range.size.key ?? range.size.elem ?? UNKNOWN.elem!);
      if (c.iterVar2 !== '') inner.set(c.iterVar2, UNKNOWN.elem!);
      // map/filter accumulate one element per item: the accumulator is as long as the range.
      inner.set(c.accuVar, list(range.size.n, range.size.elem ?? UNKNOWN.elem!));
      const cond = visit(c.loopCondition, inner, ids);
      const step = visit(c.loopStep, inner, ids);
      const result = visit(c.result, inner, ids);
      if (ids !== undefined) {
        // At run time each item is charged the body's own cost with the item counted at its real
        // size: the body measured with a one-character item, plus the item's size for each read of it.
        const probe = new Map(inner);
        probe.set(c.iterVar, SCALAR);
        const fixed = Math.max(1, visit(c.loopCondition, probe, undefined).own + visit(c.loopStep, probe, undefined).own);
        const reads = countReads(c.loopCondition, c.iterVar) + countReads(c.loopStep, c.iterVar);
        c.loopCondition = chargeCall(fixed, reads, c.iterVar, c.loopCondition, ids);
      }
      const loops = mul(range.size.n, cond.cost + step.cost + 1);
      return {
        size: result.size,
        cost: add(1, range.cost, init.cost, loops, result.cost),
        own: add(1, range.own, init.own, result.own),
      };
    }
    default:
      return { size: SCALAR, cost: 1, own: 1 };
  }
}

/** What reading a value costs: a string's characters, a list's entries times their own weight. */
function weight(size: Size): number {
  return size.elem === undefined ? size.n : mul(size.n, Math.max(1, weight(size.elem)));
}

function resultSize(name: string, parts: readonly Estimate[]): Size {
  if (name === '_[_]' || name === '_[?_]') return parts[0]?.size.elem ?? UNKNOWN;
  if (name === 'split') return list(parts[0]?.size.n ?? 1, parts[0]?.size ?? SCALAR);
  if (name === 'replace') {
    // Every occurrence may become the replacement: as long as the text times the replacement.
    const [text, , by] = parts;
    return str(mul(text?.size.n ?? 1, Math.max(1, by?.size.n ?? 1)));
  }
  if (!SIZED_RESULTS.has(name)) return SCALAR;
  if (name === '_+_' && parts.every((p) => p.size.elem !== undefined)) {
    return list(add(...parts.map((p) => p.size.n)), parts[0]!.size.elem!);
  }
  return str(Math.max(1, add(...parts.map((p) => weight(p.size)))));
}

function countReads(expr: Expr | undefined, name: string): number {
  if (expr === undefined) return 0;
  if (expr.exprKind.case === 'identExpr') return expr.exprKind.value.name === name ? 1 : 0;
  let n = 0;
  forEachChild(expr, (child) => {
    n += countReads(child, name);
  });
  return n;
}

function chargeCall(fixed: number, reads: number, item: string, condition: Expr | undefined, ids: () => bigint): Expr {
  const make = (kind: Expr['exprKind']): Expr => ({ ...(condition as Expr), id: ids(), exprKind: kind }) as Expr;
  const int = (n: number) => make({ case: 'constExpr', value: { constantKind: { case: 'int64Value', value: BigInt(Math.min(n, CEL_COST_LIMIT + 1)) } } } as Expr['exprKind']);
  const itemExpr = make({ case: 'identExpr', value: { name: item } } as Expr['exprKind']);
  return make({ case: 'callExpr', value: { function: CHARGE, args: [int(fixed), int(reads), itemExpr, condition as Expr] } } as Expr['exprKind']);
}
