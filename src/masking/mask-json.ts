import type { MaskStyle } from './config.ts';
import type { MaskEngine } from './engine.ts';
import { type FieldMatcher, formatJsonPath } from './json-path.ts';
import type { ScanBudget } from './scan-budget.ts';
import { FIELD_TYPE } from './styler.ts';
import type { Finding } from './types.ts';

export interface FieldRule {
  readonly style: MaskStyle;
  /** The path as configured, for the finding's detector name. */
  readonly source: string;
}

/** Returned by the walk for a value that `drop` removes from its object or array. */
const DROP: unique symbol = Symbol('drop');
type Walked = unknown | typeof DROP;

const NO_STATES: readonly number[] = [];
// Integers this long may be card numbers written as JSON numbers.
const SCANNED_INTEGER = 1e8;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // JSON.parse makes `__proto__` an own key; plain assignment would set the prototype instead.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Index of the part holding joined offset `at` (`bounds` are the parts' start offsets, then the end). */
function partOf(bounds: readonly number[], at: number): number {
  let p = 0;
  while (p + 2 < bounds.length && bounds[p + 1]! <= at) p++;
  return p;
}

/**
 * Walks a parsed JSON value: every string and every object key is scanned, named paths are
 * masked whatever they hold. Copy-on-write: unchanged subtrees keep their identity and the
 * input is never mutated.
 */
export class JsonMasker {
  private readonly stack: (string | number)[] = [];

  constructor(
    private readonly engine: MaskEngine,
    private readonly fields: FieldMatcher<FieldRule> | null,
    private readonly budget: ScanBudget,
    private readonly findings: Finding[],
  ) {}

  mask(value: unknown): unknown {
    const root = this.fields?.root;
    const out = root ? this.maskNamed(root, value) : this.walk(value, this.fields?.initial ?? NO_STATES);
    return out === DROP ? null : out;
  }

  private walk(value: unknown, states: readonly number[]): Walked {
    if (typeof value === 'string') return this.maskString(value);
    if (typeof value === 'number') return this.maskNumber(value);
    if (Array.isArray(value)) return this.walkArray(value, states);
    if (isPlainObject(value)) return this.walkObject(value, states);
    return value;
  }

  /** `label` is what finding paths show: the masked key, so a path never repeats a secret key. */
  private child(value: unknown, key: string | number, states: readonly number[], label: string | number = key): Walked {
    this.stack.push(label);
    try {
      if (states.length === 0) return this.walk(value, NO_STATES);
      const next = this.fields!.step(states, key);
      return next.matched === null ? this.walk(value, next.states) : this.maskNamed(next.matched, value);
    } finally {
      this.stack.pop();
    }
  }

  private walkArray(input: readonly unknown[], states: readonly number[]): Walked {
    const arr = this.maskAcrossParts(input);
    // Parts already rewritten: the array is rebuilt whatever the walk finds.
    let out: unknown[] | null = arr === input ? null : [];
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      const m = this.child(v, i, states);
      if (out === null && m === v) continue;
      out ??= arr.slice(0, i);
      if (m !== DROP) out.push(m);
    }
    return out ?? arr;
  }

  private walkObject(obj: Record<string, unknown>, states: readonly number[]): Walked {
    const keys = Object.keys(obj);
    let out: Record<string, unknown> | null = null;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = obj[k];
      const mk = this.maskKey(k);
      const m = this.child(v, k, states, typeof mk === 'string' ? mk : '');
      if (out === null && m === v && mk === k) continue;
      if (out === null) {
        out = {};
        for (let j = 0; j < i; j++) setOwn(out, keys[j]!, obj[keys[j]!]);
      }
      if (m !== DROP && mk !== DROP) setOwn(out, mk as string, m);
    }
    return out ?? obj;
  }

  /**
   * A message's content parts (`[{type:'text', text:'sk-pro'}, {type:'text', text:'j-…'}]`) reach
   * the model as one text: they are scanned joined, and a value that crosses parts is masked
   * in each (its replacement in the part where it starts, the rest removed). Values inside one
   * part are left to the ordinary walk.
   */
  private maskAcrossParts(arr: readonly unknown[]): readonly unknown[] {
    if (arr.length < 2) return arr;
    // Parts without text (images, files) sit between text parts but add nothing to read.
    const at: number[] = [];
    const texts: string[] = [];
    for (let i = 0; i < arr.length; i++) {
      const part = arr[i];
      if (!isPlainObject(part) || typeof part.text !== 'string') continue;
      at.push(i);
      texts.push(part.text);
    }
    if (texts.length < 2) return arr;
    const joined = this.budget.take(texts.join(''));
    const bounds: number[] = [0];
    for (const t of texts) bounds.push(bounds[bounds.length - 1]! + t.length);
    const crossing = this.engine.scan(joined).filter((sp) => partOf(bounds, sp.start) !== partOf(bounds, sp.end - 1));
    if (crossing.length === 0) return arr;
    const out = arr.slice();
    const cuts: { from: number; to: number; replacement: string }[][] = texts.map(() => []);
    this.stack.push('*');
    const path = formatJsonPath(this.stack);
    this.stack.pop();
    for (const sp of crossing) {
      const first = partOf(bounds, sp.start);
      const last = partOf(bounds, sp.end - 1);
      const rendered = this.engine.render(joined, [sp], sp.start, sp.end, 0, this.findings, path);
      for (let p = first; p <= last; p++) {
        const from = Math.max(sp.start, bounds[p]!) - bounds[p]!;
        const to = Math.min(sp.end, bounds[p + 1]!) - bounds[p]!;
        cuts[p]!.push({ from, to, replacement: p === first ? rendered : '' });
      }
    }
    for (let p = 0; p < texts.length; p++) {
      if (cuts[p]!.length === 0) continue;
      let text = texts[p]!;
      for (const cut of cuts[p]!.reverse()) text = text.slice(0, cut.from) + cut.replacement + text.slice(cut.to);
      const part = arr[at[p]!] as Record<string, unknown>;
      const copy: Record<string, unknown> = {};
      for (const k of Object.keys(part)) setOwn(copy, k, k === 'text' ? text : part[k]);
      out[at[p]!] = copy;
    }
    return out;
  }

  /** Keys are read by people and models too: scanned like values (field paths still match the original key). */
  private maskKey(k: string): Walked {
    return k.length === 0 ? k : this.maskString(k);
  }

  private maskString(s: string): Walked {
    const text = this.budget.take(s);
    const spans = this.engine.scan(text);
    if (spans.length === 0) return text;
    const path = formatJsonPath(this.stack);
    if (spans.some((sp) => this.engine.styleOf(sp.detector) === 'drop')) {
      for (const sp of spans) {
        this.findings.push({ type: sp.detector.type, detector: sp.detector.name, start: sp.start, end: sp.end, replacement: '', path });
      }
      return DROP;
    }
    return this.engine.render(text, spans, 0, text.length, 0, this.findings, path);
  }

  private maskNumber(n: number): Walked {
    if (!Number.isInteger(n) || Math.abs(n) < SCANNED_INTEGER) return n;
    const s = String(n);
    const spans = this.engine.scanner.scan(s);
    const whole = spans[0];
    if (whole === undefined || whole.start !== 0 || whole.end !== s.length) return n;
    const path = formatJsonPath(this.stack);
    if (this.engine.styleOf(whole.detector) === 'drop') {
      this.findings.push({ type: whole.detector.type, detector: whole.detector.name, start: 0, end: s.length, replacement: '', path });
      return DROP;
    }
    return this.engine.render(s, spans, 0, s.length, 0, this.findings, path);
  }

  private maskNamed(rule: FieldRule, value: unknown): Walked {
    if (value === null || value === undefined) return rule.style === 'drop' ? DROP : value;
    const repr = typeof value === 'string' ? value : JSON.stringify(value);
    const replacement = rule.style === 'drop' ? '' : this.engine.styler.replace(FIELD_TYPE, rule.style, repr, repr);
    this.findings.push({
      type: FIELD_TYPE,
      detector: `field:${rule.source}`,
      start: 0,
      end: repr.length,
      replacement,
      path: formatJsonPath(this.stack),
    });
    return rule.style === 'drop' ? DROP : replacement;
  }
}
