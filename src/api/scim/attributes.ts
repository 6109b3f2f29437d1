/**
 * The value shapes SCIM resources carry, as zod schemas. Strings are bounded and hold no control
 * characters; booleans also come as the strings Entra ID sends ("True", "False"), exactly those
 * and nothing looser: `"false "` is an error, never a truthy string.
 */
import { z } from 'zod';
import { scimInvalid } from './errors.ts';

const CONTROL = /[\u0000-\u001f\u007f]/;

export const text = (max = 1024) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), 'must not hold control characters');

export const scimBoolean = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false)$/i, 'must be true or false')
    .transform((v) => v.toLowerCase() === 'true'),
]);

/** A name a person is known by (userName, a group's displayName): no edge whitespace, so " alice" is not a second alice. */
export const identifier = text(256)
  .min(1, 'must not be empty')
  .refine((v) => v.trim() === v, 'must not start or end with whitespace');

/** Reads `value` with `schema`, or throws invalidValue naming the first attribute at fault. */
export function readValue<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const at = [what, ...issue.path.map(String)].filter(Boolean).join('.');
  throw scimInvalid('invalidValue', `${at}: ${issue.message}`);
}

/**
 * Keys matched to their canonical spelling (SCIM attribute names are case-insensitive); unknown
 * keys are left out. Two keys that fold to one name are refused rather than one silently winning.
 */
export function canonicalKeys(body: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const byFolded = new Map(names.map((n) => [n.toLowerCase(), n]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = byFolded.get(key.toLowerCase());
    if (name === undefined) continue;
    if (Object.hasOwn(out, name)) throw scimInvalid('invalidValue', `the attribute "${name}" is given twice`);
    out[name] = value;
  }
  return out;
}

export function asObject(body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw scimInvalid('invalidSyntax', `${what} must be a JSON object`);
  return body as Record<string, unknown>;
}

export const iso = (ms: number): string => new Date(ms).toISOString();
