/** `application/x-www-form-urlencoded` bodies, read and masked as their readers decode them. */
import type { MaskProfile } from './types.ts';

/** Percent-decoding as form readers do it: `+` is a space, a malformed escape stays as written. */
function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  if (plus.indexOf('%') === -1) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
  }
}

function encodeComponent(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

export function formPairs(text: string): { key: string; value: string | null }[] {
  return text.split('&').map((part) => {
    const eq = part.indexOf('=');
    return eq === -1 ? { key: decodeComponent(part), value: null } : { key: decodeComponent(part.slice(0, eq)), value: decodeComponent(part.slice(eq + 1)) };
  });
}

/**
 * Form pairs are scanned decoded, each as `key=value` (so `password=…` reads as an assignment);
 * a pair with something masked is re-encoded, every other byte stays as sent.
 */
export function maskForm(profile: MaskProfile, text: string): string {
  const parts = text.split('&');
  let changed = false;
  const pairs = formPairs(text);
  for (let i = 0; i < parts.length; i++) {
    const { key, value } = pairs[i]!;
    const whole = value === null ? key : `${key}=${value}`;
    const masked = profile.maskText(whole).text;
    if (masked === whole) continue;
    changed = true;
    if (value === null) {
      parts[i] = encodeComponent(masked);
    } else if (masked.startsWith(`${key}=`)) {
      parts[i] = `${parts[i]!.slice(0, parts[i]!.indexOf('='))}=${encodeComponent(masked.slice(key.length + 1))}`;
    } else {
      // The key itself held something: key and value are masked on their own, and anything
      // found only across the `=` leaves the whole pair masked as one key.
      const k = profile.maskText(key).text;
      const v = profile.maskText(value).text;
      parts[i] = `${k}=${v}` === masked ? `${encodeComponent(k)}=${encodeComponent(v)}` : `${encodeComponent(masked)}=`;
    }
  }
  return changed ? parts.join('&') : text;
}

