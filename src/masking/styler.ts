import { createHmac } from 'node:crypto';
import type { MaskStyle } from './config.ts';

/** Finding types for values masked by name rather than by content. */
export const FIELD_TYPE = 'field';
export const COLUMN_TYPE = 'column';

/**
 * Named fields and columns share one pseudonym namespace, so a value masked as
 * `$.user.ssn` in a JSON body and as column `ssn` in a result row gets the same token.
 */
function labelOf(type: string): string {
  return type === FIELD_TYPE || type === COLUMN_TYPE ? 'REDACTED' : type.toUpperCase();
}

function pseudonymPrefixOf(type: string): string {
  return type === FIELD_TYPE || type === COLUMN_TYPE ? 'VALUE' : type.toUpperCase();
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** `****4242`: the last four letters or digits, only of values with nine or more (so most stays hidden). */
function partial(type: string, value: string): string {
  if (type === 'email') {
    const at = value.lastIndexOf('@');
    if (at !== -1) return `****${value.slice(at)}`;
  }
  let kept = '';
  let count = 0;
  for (let i = value.length - 1; i >= 0; i--) {
    if (!isAlnum(value.charCodeAt(i))) continue;
    count++;
    if (kept.length < 4) kept = value[i] + kept;
  }
  return count >= 9 ? `****${kept}` : '****';
}

export interface Styler {
  /**
   * The replacement text for `value`. `canonical` is the detector's normalised form; two
   * spellings of one value (card with and without spaces) get one pseudonym.
   */
  replace(type: string, style: MaskStyle, value: string, canonical: string): string;
}

export function createStyler(key: Buffer): Styler {
  if (key.length < 16) throw new RangeError('masking key must be at least 16 bytes');
  const labels = new Map<string, string>();
  const label = (type: string): string => {
    let l = labels.get(type);
    if (l === undefined) {
      l = `[${labelOf(type)}]`;
      labels.set(type, l);
    }
    return l;
  };
  return {
    replace(type, style, value, canonical) {
      switch (style) {
        case 'redact':
        case 'drop':
          return label(type);
        case 'partial':
          return partial(type, value);
        case 'pseudonym': {
          const prefix = pseudonymPrefixOf(type);
          // The type is part of the input so one string found as two types gets two tokens.
          const digest = createHmac('sha256', key).update(prefix).update('\0').update(canonical).digest('hex');
          return `${prefix}_${digest.slice(0, 8)}`;
        }
      }
    },
  };
}
