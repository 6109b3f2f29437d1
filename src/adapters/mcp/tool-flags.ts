/**
 * What a tool's definition hides from the person reading it but not from the model: every string
 * in it (name, title, description, the schemas' descriptions and defaults) is scanned for
 * invisible characters, markup comments and the high-risk-prompts pack's injection markers, and a
 * description past DESCRIPTION_LIMIT is flagged too. The flags become `request.mcp.tool_flags`, so
 * a rule can deny or hold a tool for them; the gateway itself refuses nothing here.
 */
import type { RE2JS } from 're2js';
import { compileLinearRegex } from '../../masking/linear-regex.ts';
import { foldedText } from '../../policy/packs/folded-text.ts';
import { INJECTION_MARKERS } from '../../policy/packs/injection-markers.ts';

export type ToolFlag =
  | 'hidden_text'
  | 'markup_comment'
  | 'injection_marker'
  | 'long_description'
  | 'nonstandard_name'
  // Set by pins.ts: the definition is not (or no longer) the approved one.
  | 'unpinned'
  | 'changed'
  | 'lookalike_name'
  | 'duplicate_name'
  // Set by pin-session.ts: a call of a tool the tool server did not list.
  | 'unlisted';

/** Longest description (in code points) read without the `long_description` flag. */
export const DESCRIPTION_LIMIT = 4096;

/**
 * Characters a reader does not see: format characters (zero-width spaces and joiners U+200B–U+200F,
 * bidi controls U+202A–U+202E and U+2066–U+2069, word joiners and invisible operators U+2060–U+2064,
 * U+FEFF, the tag characters U+E0000–U+E007F), private-use characters, variation selectors, Hangul
 * fillers, and control characters other than tab and line breaks.
 */
const HIDDEN = /[\p{Cf}\p{Co}\u115F\u1160\u3164\uFFA0\uFE00-\uFE0F\u{E0100}-\u{E01EF}\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;
/** HTML/XML comments and Markdown's comment idiom (`[//]: # (…)`): rendered as nothing, read by the model. */
const COMMENT = /<!--|-->|^\s*\[\/\/\]:\s*#/m;
/** What MCP 2025-11-25 recommends tool names be made of. */
const STANDARD_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** A definition deeper than this is not walked further (and pin-hash.ts refuses it anyway). */
const MAX_DEPTH = 64;

let markers: readonly RE2JS[] | null = null;
const compiledMarkers = (): readonly RE2JS[] => (markers ??= INJECTION_MARKERS.map((marker) => compileLinearRegex(marker.pattern)));

function collectStrings(value: unknown, into: string[], depth: number): void {
  if (depth > MAX_DEPTH) return;
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into, depth + 1);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      collectStrings(item, into, depth + 1);
    }
  }
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The flags of one tool's definition as the tool server sent it. */
export function toolFlags(tool: Record<string, unknown>): ToolFlag[] {
  const flags = descriptionFlags(tool);
  if (typeof tool.name !== 'string' || !STANDARD_NAME.test(tool.name)) flags.push('nonstandard_name');
  return flags;
}

/**
 * The flags of any entry a list shows the model (a tool, a prompt, a resource or resource
 * template): every string in it scanned alike. MCP recommends a name alphabet for tools only.
 */
export function descriptionFlags(entry: Record<string, unknown>): ToolFlag[] {
  const flags: ToolFlag[] = [];
  const strings: string[] = [];
  collectStrings(entry, strings, 0);
  if (strings.some((s) => HIDDEN.test(s))) flags.push('hidden_text');
  if (strings.some((s) => COMMENT.test(s))) flags.push('markup_comment');
  // One folded reading of the whole definition: a marker split across two fields is not one.
  const folded = strings.map((s) => foldedText(s)).join('\n');
  if (compiledMarkers().some((re) => re.matcher(folded).find())) flags.push('injection_marker');
  if (typeof entry.description === 'string' && codePoints(entry.description) > DESCRIPTION_LIMIT) flags.push('long_description');
  return flags;
}
