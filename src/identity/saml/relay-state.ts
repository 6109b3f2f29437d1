/**
 * Where the browser goes after a SAML sign-in: a path on this gateway's origin, nothing else.
 * RelayState travels through the identity provider unsigned, so it is checked when the login
 * starts and again when it comes back; an open redirect here would hand a fresh session page's
 * referrer (and the user's trust) to another site.
 */
const MAX_LENGTH = 512;
const PLACEHOLDER_ORIGIN = 'https://gatehouse.invalid';

/** The path itself when it is safe to redirect to, else null. */
export function safeRelayPath(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LENGTH) return null;
  // Printable ASCII only: no spaces or control characters (header splitting), no backslash (browsers
  // read `/\evil.example` as `//evil.example`), no look-alike characters from outside ASCII.
  if (!/^\/[\x21-\x7e]*$/.test(value) || value.includes('\\') || value.startsWith('//')) return null;
  // Decoded once it must still be a plain path: `/%2Fevil.example` or `/%5Cevil.example` are refused
  // rather than trusted to stay encoded in every browser and proxy on the way.
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  if (decoded.startsWith('//') || decoded.includes('\\') || /[\x00-\x1f\x7f]/.test(decoded)) return null;
  // No empty or dot segments either: `/..//evil.example` normalises to `//evil.example` in some hands.
  for (const path of [value, decoded].map((text) => text.split(/[?#]/, 1)[0]!)) {
    if (path.includes('//') || /\/\.\.?(\/|$)/.test(path)) return null;
  }
  const resolved = new URL(value, PLACEHOLDER_ORIGIN);
  return resolved.origin === PLACEHOLDER_ORIGIN ? value : null;
}
