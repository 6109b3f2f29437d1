import { scimInvalid } from './errors.ts';

/** SCIM documents nest a few levels (PatchOp → Operations → value → members → member); this is far past any. */
export const MAX_DEPTH = 16;

/** Keys that would reach an object's prototype once a patch library assigns them. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting of arrays and objects in JSON text, found before parsing so nothing recurses on it. */
function nesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > MAX_DEPTH) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

function checkKeys(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) checkKeys(item);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key.toLowerCase())) throw scimInvalid('invalidSyntax', `the attribute name "${key}" is not allowed`);
      checkKeys(child);
    }
  }
}

/** The body of a SCIM request: JSON, at most MAX_DEPTH deep, naming no prototype keys. */
export function parseScimJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  if (nesting(text) > MAX_DEPTH) throw scimInvalid('invalidSyntax', `the body nests deeper than ${MAX_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw scimInvalid('invalidSyntax', 'the body is not valid JSON');
  }
  checkKeys(value);
  return value;
}
