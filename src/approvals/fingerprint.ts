/**
 * The fingerprint of an exact request: the same request retried by the same identity matches its
 * approval, a request changed by one byte does not. The token may differ (a retry after a token
 * refresh is still the same request); everything that says what runs, and for whom, may not.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface FingerprintInput {
  readonly principalId: string;
  /** The name of the token the request came with (the agent). */
  readonly agent: string;
  readonly connection: string;
  readonly kind: string;
  readonly method: string | null;
  /** Path (with its query) or tool name; SQL text goes in `content`. */
  readonly target: string | null;
  /**
   * What runs: a JSON body (compared as canonical JSON, so key order does not matter), text (SQL,
   * a form), none, or `unreadable` (bytes the gateway does not read): an unreadable body matches
   * nothing, so no approval can ever run another body than the one it was given for.
   */
  readonly content: { readonly json: unknown } | { readonly text: string } | { readonly exact: string } | null | 'unreadable';
}

/** SHA-256, hex, over a length-prefixed encoding of every field: no two inputs share an encoding. */
export function fingerprint(input: FingerprintInput): string {
  const hash = createHash('sha256');
  const field = (value: string | null) => {
    const text = value === null ? '\u0000null' : value;
    hash.update(`${Buffer.byteLength(text)}:`).update(text).update('\n');
  };
  field('gatehouse-approval-v1');
  field(input.principalId);
  field(input.agent);
  field(input.connection);
  field(input.kind);
  field(input.method === null ? null : input.method.toUpperCase());
  field(input.target);
  const content = input.content;
  if (content === null) field('none');
  else if (content === 'unreadable') field(`unreadable:${randomBytes(16).toString('hex')}`);
  else if ('json' in content) field(`json:${canonicalJson(content.json)}`);
  else if ('exact' in content) field(`exact:${content.exact}`);
  else field(`text:${content.text}`);
  return hash.digest('hex');
}

/** JSON with object keys sorted (by UTF-16 code units, at every depth) and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
}

/**
 * Whether every number in a JSON text survives parsing: a literal with more significant digits than
 * a double holds (12345678901234567891) parses to the same value as its neighbour, so two bodies
 * that forward different bytes would share a canonical form. Such a body is fingerprinted as unreadable.
 */
export function numbersSurviveParsing(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string, its escapes included.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const match = /^-?(\d+)(?:\.(\d+))?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (!match) return false;
      const digits = `${match[1]}${match[2] ?? ''}`.replace(/^0+/, '').replace(/0+$/, '');
      if (digits.length > 15) return false;
      i += match[0].length - 1;
    }
  }
  return true;
}
