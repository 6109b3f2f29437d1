/**
 * SCIM PATCH (RFC 7644 §3.5.2) as Okta and Entra ID send it. Each operation is checked here first:
 * its op read in any case ("Replace"), its path resolved against the attributes the resource
 * allows and rewritten to their canonical spelling, read-only attributes refused. Only then does
 * scim-patch apply the operations, to a copy; the caller reads the result back through the same
 * checks a PUT goes through, so a patch can never store what a PUT could not.
 */
import { scimPatch, ScimError, type ScimPatchOperation, type ScimResource } from 'scim-patch';
import { asObject, canonicalKeys } from './attributes.ts';
import { scimInvalid, type ScimType } from './errors.ts';
import { parseFilter, type AttrSpec } from './filter.ts';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const MAX_OPERATIONS = 100;
const MAX_PATH_CHARS = 512;
/** RFC 7643 §2.1 ATTRNAME; "__proto__" and friends fail it before any lookup. */
const ATTR_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

export interface PatchRules {
  /** The core schema URN a path may start with. */
  readonly urn: string;
  readonly core: Readonly<Record<string, AttrSpec>>;
  /** Named by a path: refused as mutability; named in a path-less value: ignored. */
  readonly readOnly: readonly string[];
  /** Accepted and dropped (a password is never stored). */
  readonly ignored: readonly string[];
  readonly extensions: Readonly<Record<string, Readonly<Record<string, AttrSpec>>>>;
  /** Multi-valued attributes whose filtered paths (members[value eq "…"]) may only be removed. */
  readonly filterRemoveOnly?: readonly string[];
  /** Reshapes values written to an attribute (group members to { value } alone). */
  readonly normalise?: (attribute: string, value: unknown) => unknown;
}

export type PatchOp = 'add' | 'remove' | 'replace';

interface ResolvedPath {
  readonly path: string;
  /** The top-level attribute, canonical (extension attributes prefixed with their URN). */
  readonly attribute: string;
}

const find = <T>(record: Readonly<Record<string, T>>, name: string): [string, T] | undefined =>
  Object.entries(record).find(([key]) => key.toLowerCase() === name.toLowerCase());

function invalidPath(path: string, why: string): never {
  throw scimInvalid('invalidPath', `path "${path.length > 100 ? `${path.slice(0, 100)}…` : path}": ${why}`);
}

/** A path checked against the rules and spelled canonically; null for an attribute that is ignored. */
function resolvePath(raw: string, rules: PatchRules, op: PatchOp, allowFilter: boolean): ResolvedPath | null {
  if (raw.length > MAX_PATH_CHARS) invalidPath(raw, `longer than ${MAX_PATH_CHARS} characters`);
  const bracket = raw.indexOf('[');
  let head = raw;
  let filter: string | null = null;
  let sub: string | undefined;
  if (bracket >= 0) {
    const close = raw.lastIndexOf(']');
    if (!allowFilter || close < bracket) invalidPath(raw, 'a value filter is not allowed here');
    head = raw.slice(0, bracket);
    filter = raw.slice(bracket + 1, close);
    const tail = raw.slice(close + 1);
    if (tail !== '' && !tail.startsWith('.')) invalidPath(raw, 'unexpected text after the filter');
    sub = tail === '' ? undefined : tail.slice(1);
  }
  const colon = head.lastIndexOf(':');
  const urn = colon >= 0 ? head.slice(0, colon) : null;
  const segments = (colon >= 0 ? head.slice(colon + 1) : head).split('.');
  if (segments.length > (filter === null ? 2 : 1)) invalidPath(raw, 'too many levels');
  const name = segments[0]!;
  sub ??= segments[1];
  for (const part of [name, ...(sub === undefined ? [] : [sub])]) if (!ATTR_NAME.test(part)) invalidPath(raw, 'not an attribute name');

  let scope: Readonly<Record<string, AttrSpec>> = rules.core;
  let prefix = '';
  if (urn !== null && urn.toLowerCase() !== rules.urn.toLowerCase()) {
    const extension = find(rules.extensions, urn);
    if (!extension) invalidPath(raw, 'unknown schema');
    [prefix, scope] = [`${extension[0]}:`, extension[1]];
  } else {
    if (rules.readOnly.some((r) => r.toLowerCase() === name.toLowerCase())) {
      throw scimInvalid('mutability', `"${name}" is read-only`);
    }
    if (rules.ignored.some((r) => r.toLowerCase() === name.toLowerCase())) return null;
  }
  const found = find(scope, name);
  if (!found) invalidPath(raw, 'not an attribute Gatehouse keeps');
  const [attribute, spec] = found;
  if (filter !== null) {
    if (!spec.multiValued || !spec.sub) invalidPath(raw, `"${attribute}" is not multi-valued`);
    if (rules.filterRemoveOnly?.includes(attribute) && (op !== 'remove' || sub !== undefined)) invalidPath(raw, `"${attribute}[…]" may only be removed`);
    parseFilter(filter, { urn: null, attributes: spec.sub });
  }
  let subName = '';
  if (sub !== undefined) {
    const subFound = spec.sub ? find(spec.sub, sub) : undefined;
    if (!subFound) invalidPath(raw, `"${sub}" is not a sub-attribute of "${attribute}"`);
    subName = `.${subFound[0]}`;
  }
  return { path: `${prefix}${attribute}${filter === null ? '' : `[${filter}]`}${subName}`, attribute: `${prefix}${attribute}` };
}

/** A path-less add or replace: each key of its value is a path (Okta: { active: false }; Entra: { "name.givenName": … }). */
function resolveValueKeys(value: unknown, rules: PatchRules, op: PatchOp): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(asObject(value, 'a value without a path'))) {
    const extension = find(rules.extensions, key);
    if (extension && item !== null && typeof item === 'object' && !Array.isArray(item)) {
      Object.assign(out, resolveValueKeys(Object.fromEntries(Object.entries(item).map(([k, v]) => [`${extension[0]}:${k}`, v])), rules, op));
      continue;
    }
    if (rules.readOnly.some((r) => r.toLowerCase() === key.toLowerCase())) continue;
    const resolved = resolvePath(key, rules, op, false);
    if (resolved === null) continue;
    if (Object.hasOwn(out, resolved.path)) throw scimInvalid('invalidValue', `the attribute "${resolved.path}" is given twice`);
    out[resolved.path] = rules.normalise ? rules.normalise(resolved.attribute, item) : item;
  }
  return out;
}

/** The operations of a PatchOp body, checked and spelled canonically. */
export function readPatch(body: unknown, rules: PatchRules): ScimPatchOperation[] {
  const fields = canonicalKeys(asObject(body, 'a PatchOp'), ['schemas', 'Operations']);
  if (!Array.isArray(fields.schemas) || !fields.schemas.includes(PATCH_SCHEMA)) {
    throw scimInvalid('invalidSyntax', `schemas must include ${PATCH_SCHEMA}`);
  }
  const operations = fields.Operations;
  if (!Array.isArray(operations) || operations.length === 0) throw scimInvalid('invalidSyntax', 'Operations must be a non-empty array');
  if (operations.length > MAX_OPERATIONS) throw scimInvalid('tooMany', `at most ${MAX_OPERATIONS} operations per request`);
  const out: ScimPatchOperation[] = [];
  for (const raw of operations) {
    const operation = canonicalKeys(asObject(raw, 'an operation'), ['op', 'path', 'value']);
    const op = typeof operation.op === 'string' ? operation.op.toLowerCase() : '';
    if (op !== 'add' && op !== 'remove' && op !== 'replace') throw scimInvalid('invalidSyntax', 'op must be add, remove or replace');
    if (operation.path !== undefined && typeof operation.path !== 'string') throw scimInvalid('invalidPath', 'path must be a string');
    const path = operation.path === '' ? undefined : (operation.path as string | undefined);
    if (path === undefined) {
      if (op === 'remove') throw scimInvalid('noTarget', 'a remove operation needs a path');
      if (operation.value === undefined) throw scimInvalid('invalidValue', `an ${op} operation needs a value`);
      const value = resolveValueKeys(operation.value, rules, op);
      if (Object.keys(value).length > 0) out.push({ op, value });
      continue;
    }
    const resolved = resolvePath(path, rules, op, true);
    if (resolved === null) continue;
    if (op === 'remove') {
      out.push({ op, path: resolved.path, ...(operation.value === undefined ? {} : { value: rules.normalise ? rules.normalise(resolved.attribute, operation.value) : operation.value }) });
      continue;
    }
    if (operation.value === undefined) throw scimInvalid('invalidValue', `an ${op} operation needs a value`);
    out.push({ op, path: resolved.path, value: rules.normalise ? rules.normalise(resolved.attribute, operation.value) : operation.value });
  }
  return out;
}

const SCIM_TYPES: readonly string[] = ['invalidFilter', 'tooMany', 'uniqueness', 'mutability', 'invalidSyntax', 'invalidPath', 'noTarget', 'invalidValue'];

/** Applies checked operations to a copy of `resource`. */
export function applyPatch(resource: Record<string, unknown>, operations: readonly ScimPatchOperation[]): Record<string, unknown> {
  try {
    return scimPatch(resource as unknown as ScimResource, [...operations], { mutateDocument: false, treatMissingAsAdd: true }) as unknown as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ScimError) {
      const type = SCIM_TYPES.includes(err.scimCode ?? '') ? (err.scimCode as ScimType) : 'invalidValue';
      throw scimInvalid(type, `the patch could not be applied: ${err.message}`);
    }
    throw err;
  }
}
