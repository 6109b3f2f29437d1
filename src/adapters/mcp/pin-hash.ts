/**
 * The pinned form of a tool: its whole definition as the tool server sent it (name, title,
 * description, inputSchema, outputSchema, annotations, icons, _meta: every field, since every
 * field reaches the agent), as canonical JSON (object keys sorted by code unit, no white space,
 * strings exactly as sent: no Unicode normalisation, so a definition respelt in other code points
 * is a change), hashed with SHA-256. JSON-RPC gives a tree, never a graph: a schema's `$ref` cycle
 * is text here, not a loop; depth and size are bounded so a hostile definition cannot exhaust the stack.
 */
import { createHash } from 'node:crypto';

/** Deepest nesting of a definition the gateway pins; deeper ones are refused whole. */
export const MAX_DEFINITION_DEPTH = 64;
/** Largest canonical definition (UTF-16 code units) the gateway pins. */
export const MAX_DEFINITION_CHARS = 256 * 1024;

export class UnpinnableDefinition extends Error {}

function canonical(value: unknown, depth: number, out: string[]): void {
  if (depth > MAX_DEFINITION_DEPTH) throw new UnpinnableDefinition(`nested deeper than ${MAX_DEFINITION_DEPTH} levels`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') out.push(JSON.stringify(value));
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new UnpinnableDefinition('holds a number JSON cannot carry');
    out.push(JSON.stringify(value));
  } else if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, i) => {
      if (i > 0) out.push(',');
      canonical(item, depth + 1, out);
    });
    out.push(']');
  } else if (typeof value === 'object') {
    out.push('{');
    const keys = Object.keys(value).sort();
    keys.forEach((key, i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(key), ':');
      canonical((value as Record<string, unknown>)[key], depth + 1, out);
    });
    out.push('}');
  } else {
    throw new UnpinnableDefinition(`holds a ${typeof value}, which is not JSON`);
  }
}

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  canonical(value, 0, out);
  const text = out.join('');
  if (text.length > MAX_DEFINITION_CHARS) throw new UnpinnableDefinition(`is larger than ${MAX_DEFINITION_CHARS} characters`);
  return text;
}

export interface PinnedForm {
  readonly json: string;
  readonly hash: string;
}

export function pinnedForm(tool: Record<string, unknown>): PinnedForm {
  const json = canonicalJson(tool);
  return { json, hash: createHash('sha256').update(json, 'utf8').digest('hex') };
}
