/**
 * What an approver of a tool change reads: the description's changed part (old → new, with a
 * little context either side) and every other field's change as JSON Pointer paths with their old
 * and new values. Invisible characters are shown by their code point, so what the model would read
 * but a person would not see is in plain sight; every text is masked by the caller's `mask`
 * (the gateway's secrets redactor) and cut to a length a chat message can carry.
 */

const EXCERPT = 1_000;
const CONTEXT = 80;
const MAX_PATHS = 100;
const INVISIBLE = /[\p{Cf}\p{Co}\u115F\u1160\u3164\uFFA0\uFE00-\uFE0F\u{E0100}-\u{E01EF}\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/gu;

export type Mask = (text: string) => string;

/** Invisible characters written out (`⟨U+200B⟩`), masked, cut. */
export function shownText(text: string, mask: Mask): string {
  const visible = mask(text).replace(INVISIBLE, (ch) => `⟨U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`);
  return visible.length > EXCERPT ? `${visible.slice(0, EXCERPT)}… [${visible.length - EXCERPT} more characters]` : visible;
}

export interface TextChange {
  readonly from: string;
  readonly to: string;
}

/** The part of `to` that differs from `from`, with CONTEXT characters of what they share either side. */
export function textChange(from: string, to: string, mask: Mask): TextChange {
  let start = 0;
  while (start < from.length && start < to.length && from[start] === to[start]) start++;
  let end = 0;
  while (end < from.length - start && end < to.length - start && from[from.length - 1 - end] === to[to.length - 1 - end]) end++;
  const cut = (text: string) => {
    const a = Math.max(0, start - CONTEXT);
    const b = Math.min(text.length, text.length - end + CONTEXT);
    return `${a > 0 ? '…' : ''}${text.slice(a, b)}${b < text.length ? '…' : ''}`;
  };
  return { from: shownText(cut(from), mask), to: shownText(cut(to), mask) };
}

type Leaves = Map<string, string>;

const pointer = (path: string, key: string) => `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;

function leaves(value: unknown, path: string, into: Leaves, depth: number): void {
  if (into.size > MAX_PATHS * 20) return;
  if (depth < 64 && typeof value === 'object' && value !== null && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value)) leaves(item, pointer(path, key), into, depth + 1);
    return;
  }
  into.set(path === '' ? '/' : path, JSON.stringify(value) ?? 'null');
}

export interface FieldChange {
  readonly path: string;
  readonly from?: string;
  readonly to?: string;
}

/** Every leaf that differs between two definitions (description aside), at most MAX_PATHS of them. */
export function fieldChanges(from: Record<string, unknown> | null, to: Record<string, unknown> | null, mask: Mask): { changes: FieldChange[]; more: number } {
  const a: Leaves = new Map();
  const b: Leaves = new Map();
  const { description: _a, ...restA } = from ?? {};
  const { description: _b, ...restB } = to ?? {};
  if (from) leaves(restA, '', a, 0);
  if (to) leaves(restB, '', b, 0);
  const changes: FieldChange[] = [];
  let more = 0;
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const was = a.get(path);
    const now = b.get(path);
    if (was === now) continue;
    if (changes.length >= MAX_PATHS) {
      more++;
      continue;
    }
    changes.push({ path: shownText(path, mask), ...(was === undefined ? {} : { from: shownText(was, mask) }), ...(now === undefined ? {} : { to: shownText(now, mask) }) });
  }
  return { changes, more };
}
