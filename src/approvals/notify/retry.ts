/** Back-off for receivers that fail: doubling from a second, at most five minutes, spread by ±20 %. */
const FIRST_MS = 1_000;
const MAX_MS = 5 * 60_000;
/** A Retry-After asking for longer is cut to this: a notification hours late helps nobody decide. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** The wait after `attempts` failed attempts; `random` in [0, 1), 0.5 giving the plain doubling. */
export function backoffMs(attempts: number, random: number): number {
  const base = Math.min(MAX_MS, FIRST_MS * 2 ** Math.max(0, attempts - 1));
  const spread = 0.8 + 0.4 * Math.min(Math.max(random, 0), 1);
  return Math.round(base * spread);
}

/**
 * Retry-After in milliseconds (delay-seconds or an HTTP date), within [0, MAX_RETRY_AFTER_MS], or
 * null when absent or unreadable (the caller backs off on its own then).
 */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d{1,10}$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  // An HTTP date names a weekday and GMT; anything Date.parse reads more loosely is not one.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return null;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}
