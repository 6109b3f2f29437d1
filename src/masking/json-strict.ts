/**
 * JSON as every reader reads it. `JSON.parse` keeps the last of two equal keys; other parsers
 * keep the first, or refuse. A gateway that checks one value while the upstream reads the
 * other can be walked past, so duplicate keys are found here (after escapes: `"a"` and
 * `"\u0061"` are the same key) and callers refuse them.
 */

export interface StrictJson {
  readonly value: unknown;
  /** Some object, at any depth, names a key twice. */
  readonly duplicateKeys: boolean;
  /** Top-level keys named twice (they decide how a request is classified: `model`, `messages`…). */
  readonly duplicateTopLevel: readonly string[];
}

interface Frame {
  readonly keys: Set<string> | null;
  expectKey: boolean;
}

const QUOTE = 34;
const BACKSLASH = 92;

/** Index just past the string literal that starts (with its quote) at `at`; text is valid JSON. */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    let slashes = 0;
    for (let j = q - 1; j > at && text.charCodeAt(j) === BACKSLASH; j--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** Throws SyntaxError like JSON.parse for invalid JSON. */
export function parseJsonStrict(text: string): StrictJson {
  const value: unknown = JSON.parse(text);
  // Only objects can repeat keys; the walk below runs on text JSON.parse has just accepted.
  if (text.indexOf('{') === -1) return { value, duplicateKeys: false, duplicateTopLevel: [] };
  // JSON.parse keeps one entry per distinct key: when the text names no more keys than the value
  // holds, none repeats. Counting allocates nothing; the walk below runs only when they differ.
  if (keysInText(text) === keysInValue(value)) return { value, duplicateKeys: false, duplicateTopLevel: [] };
  const stack: Frame[] = [];
  let duplicateKeys = false;
  const top: string[] = [];
  // The next backslash at or after the current position (-1: none left); found once, not per string.
  let slash = text.indexOf('\\');
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (slash !== -1 && slash < i) slash = text.indexOf('\\', i);
      const escaped = slash !== -1 && slash < end;
      const frame = stack[stack.length - 1];
      if (frame?.keys && frame.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, end)) as string) : text.slice(i + 1, end - 1);
        if (frame.keys.has(key)) {
          duplicateKeys = true;
          if (stack.length === 1 && !top.includes(key)) top.push(key);
        } else {
          frame.keys.add(key);
        }
        frame.expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 123 /* { */) stack.push({ keys: new Set(), expectKey: true });
    else if (c === 91 /* [ */) stack.push({ keys: null, expectKey: false });
    else if (c === 125 /* } */ || c === 93 /* ] */) stack.pop();
    else if (c === 44 /* , */) {
      const frame = stack[stack.length - 1];
      if (frame?.keys) frame.expectKey = true;
    }
    i++;
  }
  return { value, duplicateKeys, duplicateTopLevel: top };
}

/** How many keys the text names: every `:` outside a string. */
function keysInText(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      continue;
    }
    if (c === 58 /* : */) count++;
    i++;
  }
  return count;
}

/** How many keys a parsed value holds, at every depth; iterative, as JSON may nest deeper than the stack. */
function keysInValue(value: unknown): number {
  let count = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null) continue;
    if (Array.isArray(next)) {
      for (const item of next) pending.push(item);
      continue;
    }
    for (const key in next) {
      count++;
      pending.push((next as Record<string, unknown>)[key]);
    }
  }
  return count;
}
