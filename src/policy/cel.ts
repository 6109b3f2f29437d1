import { celEnv, celFunc, CelScalar, isCelError, parse, plan, type CelInput } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { ConditionBindings } from './bindings.ts';
import { analyzeCost, CEL_COST_LIMIT, COST_FUNCS, runWithinBudget } from './cel-cost.ts';
import { normalizeSqlName } from './sql-name.ts';
import { FOLDED_TEXT_FUNCS } from './packs/folded-text.ts';
import { VARIABLES, type FieldTree } from './variables.ts';

type Expr = ReturnType<typeof parse>['expr'];

/** Names the planner handles itself rather than through the function resolver. */
const PLANNER_OPERATORS = new Set(['_[_]', '_[?_]', '_?._', '_?_:_', '_&&_', '_||_', '@not_strictly_false', '__not_strictly_false__']);

const env = celEnv({
  funcs: [
    ...strings,
    // SQL names arrive as the classifier saw them (`public.Users`, `"users"`); guardrails compare bare names.
    celFunc('sqlName', [CelScalar.STRING], CelScalar.STRING, (name) => normalizeSqlName(name)),
    // Prompts and tool arguments read as a model reads them (case, compatibility forms, invisibles, look-alikes).
    ...FOLDED_TEXT_FUNCS,
    // The loop charge of the cost limit (cel-cost.ts); not callable from a condition's text.
    ...COST_FUNCS,
  ],
});

export interface CompiledCondition {
  /** Returns `true` or `false`; anything else (a CelError, a non-bool) is a failed condition. */
  run(bindings: ConditionBindings): unknown;
}

export type CompileResult = { readonly condition: CompiledCondition; readonly errors?: undefined } | { readonly errors: readonly string[] };

/** Parses, checks names against the documented variables and functions, and plans once. */
export function compileCondition(source: string): CompileResult {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    return { errors: [`syntax error: ${(err as Error).message}`] };
  }
  const errors: string[] = [];
  checkExpr(parsed.expr, new Set(), errors);
  if (errors.length > 0) return { errors: [...new Set(errors)] };
  const cost = analyzeCost(parsed);
  if (cost.estimate > CEL_COST_LIMIT) {
    return {
      errors: [
        `its worst-case cost on the largest inputs (${cost.estimate} units) is over the limit of ${CEL_COST_LIMIT}: a loop (all, exists, map, filter) multiplies its body's cost by the length of its list, and replace() can multiply a text's length; test the text once outside the loop, or loop over a shorter list`,
      ],
    };
  }
  let program: (bindings: Record<string, CelInput>) => unknown;
  try {
    program = plan(env, cost.instrumented);
  } catch (err) {
    return { errors: [(err as Error).message] };
  }
  return {
    condition: {
      // The activation reads variables by property access, so the lazily converting class instance
      // stands in for a plain record.
      run: (bindings) => runWithinBudget(CEL_COST_LIMIT, () => program(bindings as unknown as Record<string, CelInput>)),
    },
  };
}

/** Why a condition result is not a usable boolean, for traces. */
export function describeConditionFailure(result: unknown): string {
  if (isCelError(result)) return result.message;
  return `the condition returned ${typeof result === 'bigint' ? 'an int' : typeof result} instead of true or false`;
}

function checkExpr(expr: Expr | undefined, bound: ReadonlySet<string>, errors: string[]): void {
  if (expr === undefined) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case 'identExpr':
      checkPath(kind.value.name, [], bound, errors);
      return;
    case 'selectExpr': {
      const fields: string[] = [];
      let operand: Expr | undefined = expr;
      while (operand?.exprKind.case === 'selectExpr') {
        fields.unshift(operand.exprKind.value.field);
        operand = operand.exprKind.value.operand;
      }
      if (operand?.exprKind.case === 'identExpr') checkPath(operand.exprKind.value.name, fields, bound, errors);
      else checkExpr(operand, bound, errors);
      return;
    }
    case 'callExpr': {
      const { function: name, target, args } = kind.value;
      if (!PLANNER_OPERATORS.has(name) && env.funcs.find(name) === undefined) {
        errors.push(`unknown function "${name}"`);
      }
      checkExpr(target, bound, errors);
      for (const arg of args) checkExpr(arg, bound, errors);
      return;
    }
    case 'listExpr':
      for (const element of kind.value.elements) checkExpr(element, bound, errors);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') checkExpr(entry.keyKind.value, bound, errors);
        checkExpr(entry.value, bound, errors);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      checkExpr(c.iterRange, bound, errors);
      checkExpr(c.accuInit, bound, errors);
      const inner = new Set(bound);
      for (const name of [c.iterVar, c.iterVar2, c.accuVar]) {
        if (name === '') continue;
        // Bindings answer qualified names such as `request.sql` directly, which a shadowing
        // loop variable would silently bypass.
        if (fieldOf(VARIABLES, name) !== undefined) errors.push(`the loop variable "${name}" hides the variable of that name; pick another`);
        inner.add(name);
      }
      checkExpr(c.loopCondition, inner, errors);
      checkExpr(c.loopStep, inner, errors);
      checkExpr(c.result, inner, errors);
      return;
    }
    default:
      return;
  }
}

// Own properties only: `toString` is not a variable.
const fieldOf = (tree: FieldTree, name: string) => (Object.hasOwn(tree, name) ? tree[name] : undefined);

function checkPath(root: string, fields: readonly string[], bound: ReadonlySet<string>, errors: string[]): void {
  if (bound.has(root)) return;
  let node = fieldOf(VARIABLES, root);
  if (node === undefined) {
    errors.push(`unknown variable "${root}" (conditions can use ${Object.keys(VARIABLES).join(', ')})`);
    return;
  }
  let path = root;
  for (const field of fields) {
    if (node === 'map') return;
    if (node === 'leaf') {
      errors.push(
        root === 'time' && path === 'time'
          ? `time is a timestamp and has no field "${field}": use functions such as time.getHours('UTC') or time.getDayOfWeek('Europe/Berlin')`
          : `${path} has no field "${field}"`,
      );
      return;
    }
    const next = fieldOf(node, field);
    if (next === undefined) {
      const snake = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      const hint = snake !== field && fieldOf(node, snake) !== undefined ? `; fields are snake_case: did you mean "${snake}"?` : '';
      errors.push(`unknown field "${path}.${field}" (fields of ${path}: ${Object.keys(node).join(', ')})${hint}`);
      return;
    }
    node = next;
    path = `${path}.${field}`;
  }
}
