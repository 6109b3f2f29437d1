/**
 * SCIM filters (RFC 7644 §3.4.2.2) as Okta and Entra ID send them: `userName eq "…"`,
 * `externalId eq "…"`, `displayName eq "…"`, `id eq "…" and members[value eq "…"]`. Parsed by
 * scim2-parse-filter, then held to the attributes a resource type names and evaluated here, over
 * resources already in memory: a filter never becomes SQL, so nothing in it can reach the store.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { scimInvalid } from './errors.ts';

export interface AttrSpec {
  readonly type: 'string' | 'boolean' | 'complex';
  /** SCIM compares strings case-insensitively unless the attribute is case-exact (ids). */
  readonly caseExact?: boolean;
  readonly multiValued?: boolean;
  /** Sub-attributes of a complex attribute, by canonical name. */
  readonly sub?: Readonly<Record<string, AttrSpec>>;
}

export interface FilterSchema {
  /** The core schema URN an attribute path may be prefixed with; null: no prefix allowed. */
  readonly urn: string | null;
  readonly attributes: Readonly<Record<string, AttrSpec>>;
}

export const MAX_FILTER_CHARS = 1000;
const MAX_NODES = 50;
const MAX_PARENS = 10;

/** A filter checked against its schema: every path resolved to canonical names. */
export type CheckedFilter =
  | { readonly op: 'and' | 'or'; readonly filters: readonly CheckedFilter[] }
  | { readonly op: 'not'; readonly filter: CheckedFilter }
  | { readonly op: '[]'; readonly path: readonly string[]; readonly filter: CheckedFilter }
  | { readonly op: 'pr'; readonly path: readonly string[]; readonly spec: AttrSpec }
  | { readonly op: Exclude<Filter['op'], 'and' | 'or' | 'not' | '[]' | 'pr'>; readonly path: readonly string[]; readonly spec: AttrSpec; readonly value: string | boolean };

const lookup = (attributes: Readonly<Record<string, AttrSpec>>, name: string): [string, AttrSpec] | undefined =>
  Object.entries(attributes).find(([key]) => key.toLowerCase() === name.toLowerCase());

function resolvePath(raw: string, scope: Readonly<Record<string, AttrSpec>>, urn: string | null): { path: string[]; spec: AttrSpec } {
  let rest = raw;
  const colon = raw.lastIndexOf(':');
  if (colon >= 0) {
    if (urn === null || raw.slice(0, colon).toLowerCase() !== urn.toLowerCase()) throw scimInvalid('invalidFilter', `filtering on "${raw}" is not supported`);
    rest = raw.slice(colon + 1);
  }
  const parts = rest.split('.');
  const path: string[] = [];
  let attributes: Readonly<Record<string, AttrSpec>> | undefined = scope;
  let spec: AttrSpec | undefined;
  for (const part of parts) {
    const found: [string, AttrSpec] | undefined = attributes ? lookup(attributes, part) : undefined;
    if (!found || path.length >= 2) throw scimInvalid('invalidFilter', `filtering on "${raw}" is not supported`);
    path.push(found[0]);
    spec = found[1];
    attributes = spec.sub;
  }
  return { path, spec: spec! };
}

function check(node: Filter, scope: Readonly<Record<string, AttrSpec>>, urn: string | null, count: { nodes: number }): CheckedFilter {
  if (++count.nodes > MAX_NODES) throw scimInvalid('invalidFilter', `the filter has more than ${MAX_NODES} terms`);
  switch (node.op) {
    case 'and':
    case 'or':
      return { op: node.op, filters: node.filters.map((f) => check(f, scope, urn, count)) };
    case 'not':
      return { op: 'not', filter: check(node.filter, scope, urn, count) };
    case '[]': {
      const { path, spec } = resolvePath(node.attrPath, scope, urn);
      if (spec.type !== 'complex' || !spec.multiValued || !spec.sub) throw scimInvalid('invalidFilter', `"${node.attrPath}" is not a multi-valued attribute`);
      return { op: '[]', path, filter: check(node.valFilter, spec.sub, null, count) };
    }
    case 'pr': {
      const { path, spec } = resolvePath(node.attrPath, scope, urn);
      return { op: 'pr', path, spec };
    }
    default: {
      const { path, spec } = resolvePath(node.attrPath, scope, urn);
      const value = node.compValue;
      if (spec.type === 'complex') throw scimInvalid('invalidFilter', `"${node.attrPath}" is complex: compare one of its sub-attributes`);
      if (spec.type === 'boolean' && (typeof value !== 'boolean' || (node.op !== 'eq' && node.op !== 'ne'))) {
        throw scimInvalid('invalidFilter', `"${node.attrPath}" is a boolean: compare it with eq or ne and true or false`);
      }
      if (spec.type === 'string' && typeof value !== 'string') throw scimInvalid('invalidFilter', `"${node.attrPath}" is a string: compare it with a quoted value`);
      return { op: node.op, path, spec, value: value as string | boolean };
    }
  }
}

/** Parses and checks a filter; anything it cannot answer exactly is refused as invalidFilter. */
export function parseFilter(text: string, schema: FilterSchema): CheckedFilter {
  if (text.length > MAX_FILTER_CHARS) throw scimInvalid('invalidFilter', `the filter is longer than ${MAX_FILTER_CHARS} characters`);
  let open = 0;
  for (const c of text) {
    if (c === '(' || c === '[') open++;
    if (open > MAX_PARENS) throw scimInvalid('invalidFilter', `the filter nests more than ${MAX_PARENS} levels`);
  }
  let tree: Filter;
  try {
    tree = parse(text);
  } catch {
    throw scimInvalid('invalidFilter', 'the filter could not be parsed (e.g. userName eq "alice@example.com")');
  }
  return check(tree, schema.attributes, schema.urn, { nodes: 0 });
}

function valuesAt(resource: unknown, path: readonly string[]): unknown[] {
  let current: unknown[] = [resource];
  for (const key of path) {
    const next: unknown[] = [];
    for (const item of current) {
      const value = item !== null && typeof item === 'object' && !Array.isArray(item) ? (item as Record<string, unknown>)[key] : undefined;
      if (Array.isArray(value)) next.push(...value);
      else if (value !== undefined && value !== null) next.push(value);
    }
    current = next;
  }
  return current;
}

function compare(op: string, actual: unknown, expected: string | boolean, spec: AttrSpec): boolean {
  if (typeof expected === 'boolean') return typeof actual === 'boolean' && actual === expected;
  if (typeof actual !== 'string') return false;
  const a = spec.caseExact ? actual : actual.toLowerCase();
  const e = spec.caseExact ? expected : expected.toLowerCase();
  switch (op) {
    case 'eq': return a === e;
    case 'co': return a.includes(e);
    case 'sw': return a.startsWith(e);
    case 'ew': return a.endsWith(e);
    case 'gt': return a > e;
    case 'ge': return a >= e;
    case 'lt': return a < e;
    case 'le': return a <= e;
    default: return false;
  }
}

export function matches(resource: unknown, filter: CheckedFilter): boolean {
  switch (filter.op) {
    case 'and': return filter.filters.every((f) => matches(resource, f));
    case 'or': return filter.filters.some((f) => matches(resource, f));
    case 'not': return !matches(resource, filter.filter);
    case '[]': return valuesAt(resource, filter.path).some((item) => matches(item, filter.filter));
    case 'pr': return valuesAt(resource, filter.path).some((v) => v !== '' && !(typeof v === 'object' && Object.keys(v as object).length === 0));
    case 'ne': return !valuesAt(resource, filter.path).some((v) => compare('eq', v, filter.value, filter.spec));
    default: return valuesAt(resource, filter.path).some((v) => compare(filter.op, v, filter.value, filter.spec));
  }
}

/** `attr eq "value"` on exactly this attribute: what can be answered by a lookup instead of a scan. */
export function equalityOn(filter: CheckedFilter, attribute: string): string | null {
  return filter.op === 'eq' && filter.path.length === 1 && filter.path[0] === attribute && typeof filter.value === 'string' ? filter.value : null;
}
