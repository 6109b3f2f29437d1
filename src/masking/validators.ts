/** Checksums and plausibility tests shared by detectors and by custom patterns (`validator:`). */

/** Luhn (mod 10) over the digits of `value`; other characters are ignored. */
export function luhnValid(value: string): boolean {
  let sum = 0;
  let double = false;
  let digits = 0;
  for (let i = value.length - 1; i >= 0; i--) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    digits++;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits > 1 && sum % 10 === 0;
}

/**
 * ISO 13616 / ISO 7064 mod-97-10 as IBANs use it: move the first four characters to the end,
 * read letters as 10..35, and the remainder must be 1. Spaces are ignored.
 */
export function mod97Valid(value: string): boolean {
  const compact = value.replace(/ /g, '').toUpperCase();
  if (compact.length < 5) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      rem = (rem * 10 + (c - 48)) % 97;
    } else if (c >= 65 && c <= 90) {
      rem = (rem * 100 + (c - 55)) % 97;
    } else {
      return false;
    }
  }
  return rem === 1;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** How many of: lower-case letter, upper-case letter, digit, other — occur in `value`. */
export function characterClasses(value: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let other = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = 1;
    else if (c >= 65 && c <= 90) upper = 1;
    else if (c >= 48 && c <= 57) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

export function countDigits(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

export function digitsOnly(value: string): string {
  return value.replace(/\D+/g, '');
}

/** Decodes base64url (padding optional) and parses JSON; null when either step fails. */
export function decodeBase64UrlJson(segment: string): unknown {
  if (segment.length === 0 || segment.length % 4 === 1) return null;
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

export const VALIDATORS = {
  luhn: luhnValid,
  mod97: mod97Valid,
  none: (_value: string) => true,
} as const satisfies Record<string, (value: string) => boolean>;
