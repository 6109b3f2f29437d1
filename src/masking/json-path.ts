/**
 * The JSONPath subset profiles use to name fields that are always masked:
 * `$.user.ssn`, `messages[*].name`, `$['odd key'][0]`, `$.items.*.token`, `$..password`.
 */
export type PathSegment =
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'any' }
  /** `..name` (or `..*` when key is null): the key at any depth below. */
  | { readonly kind: 'descendant'; readonly key: string | null };

const NAME = /[^.[\]\s'"*]+/y;
const INDEX = /\[(\d+)\]/y;
const QUOTED = /\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/y;

function unescapeQuoted(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** Parses one path; throws an Error naming the offset of the first thing it cannot read. */
export function parseJsonPath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  let i = path.startsWith('$') ? 1 : 0;
  // A path without `$` may start with a bare name: `messages[*].name`.
  let expectName = i === 0;
  while (i < path.length) {
    let descendant = false;
    if (!expectName) {
      if (path.startsWith('..', i)) {
        descendant = true;
        i += 2;
      } else if (path[i] === '.') {
        i += 1;
      } else if (path[i] === '[') {
        const quoted = read(QUOTED, path, i);
        const index = quoted === null ? read(INDEX, path, i) : null;
        if (quoted !== null) {
          segments.push({ kind: 'key', key: unescapeQuoted(quoted[1] ?? quoted[2] ?? '') });
          i += quoted[0].length;
        } else if (index !== null) {
          segments.push({ kind: 'index', index: Number(index[1]) });
          i += index[0].length;
        } else if (path.startsWith('[*]', i)) {
          segments.push({ kind: 'any' });
          i += 3;
        } else {
          throw new Error(`cannot read "${path}" at offset ${i}`);
        }
        continue;
      } else {
        throw new Error(`cannot read "${path}" at offset ${i}`);
      }
    }
    expectName = false;
    if (path[i] === '*') {
      segments.push(descendant ? { kind: 'descendant', key: null } : { kind: 'any' });
      i += 1;
      continue;
    }
    const quoted = descendant ? read(QUOTED, path, i) : null;
    if (quoted !== null) {
      segments.push({ kind: 'descendant', key: unescapeQuoted(quoted[1] ?? quoted[2] ?? '') });
      i += quoted[0].length;
      continue;
    }
    const name = read(NAME, path, i);
    if (name === null) throw new Error(`cannot read "${path}" at offset ${i}`);
    segments.push(descendant ? { kind: 'descendant', key: name[0] } : { kind: 'key', key: name[0] });
    i += name[0].length;
  }
  return segments;
}

function read(re: RegExp, s: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(s);
}

/**
 * Matches compiled paths while a JSON walk descends. A state is (path, segment) packed into
 * one number; the walk carries the live states of its node and asks `step` for a child's.
 */
export class FieldMatcher<T> {
  private readonly paths: readonly (readonly PathSegment[])[];
  private readonly rules: readonly T[];
  readonly initial: readonly number[];
  /** Set when a path is just `$`: the whole document is masked. */
  readonly root: T | null;

  constructor(entries: readonly { readonly segments: readonly PathSegment[]; readonly rule: T }[]) {
    this.paths = entries.map((e) => e.segments);
    this.rules = entries.map((e) => e.rule);
    const initial: number[] = [];
    let root: T | null = null;
    entries.forEach((e, p) => {
      if (e.segments.length === 0) root ??= e.rule;
      else initial.push(p * 1024);
    });
    if (entries.some((e) => e.segments.length >= 1024)) throw new RangeError('JSON path too long');
    this.initial = initial;
    this.root = root;
  }

  /** States for the child `key` (member name or array index) and the first rule that ends there. */
  step(states: readonly number[], key: string | number): { readonly states: number[]; readonly matched: T | null } {
    const next: number[] = [];
    let matched: T | null = null;
    for (const state of states) {
      const p = Math.floor(state / 1024);
      const i = state % 1024;
      const path = this.paths[p]!;
      const seg = path[i]!;
      let advances: boolean;
      switch (seg.kind) {
        case 'key':
          advances = seg.key === key;
          break;
        case 'index':
          advances = seg.index === key;
          break;
        case 'any':
          advances = true;
          break;
        case 'descendant':
          // Stays live below this node whether or not this key matched.
          next.push(state);
          advances = seg.key === null || seg.key === key;
          break;
      }
      if (!advances) continue;
      if (i + 1 === path.length) matched ??= this.rules[p]!;
      else next.push(state + 1);
    }
    return { states: next, matched };
  }
}

/** `$.messages[0]['odd key']` for a finding's path. */
export function formatJsonPath(stack: readonly (string | number)[]): string {
  let out = '$';
  for (const k of stack) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(k)) out += `.${k}`;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}
