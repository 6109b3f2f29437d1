import { ConfigError } from '../errors.ts';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

// Units must appear largest first and at most once, so "1h30m" is unambiguous and "90m1h" is rejected.
const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Parses a duration such as `30s`, `15m`, `1h`, `7d` or `1h30m` into milliseconds.
 * Bare numbers are refused: in a config file nobody can tell seconds from milliseconds.
 * Throws ConfigError; the API turns that into its own `invalid_argument`.
 */
export function parseDuration(text: string): number {
  const parts = typeof text === 'string' && text !== '' ? DURATION_PATTERN.exec(text) : null;
  if (parts === null) {
    throw new ConfigError(
      `invalid duration ${JSON.stringify(text)}: write a whole number followed by s, m, h or d (e.g. 30s, 15m, 1h, 7d, 1h30m)`,
    );
  }
  const [, days, hours, minutes, seconds] = parts;
  const ms =
    Number(days ?? 0) * UNIT_MS.d + Number(hours ?? 0) * UNIT_MS.h + Number(minutes ?? 0) * UNIT_MS.m + Number(seconds ?? 0) * UNIT_MS.s;
  if (!Number.isSafeInteger(ms)) throw new ConfigError(`invalid duration ${JSON.stringify(text)}: too large`);
  return ms;
}

/**
 * Milliseconds in the largest unit that divides them, in the syntax parseDuration reads back
 * (`2d`, `12h`, `15m`); anything finer is rounded to whole seconds, since messages name lifetimes.
 */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % UNIT_MS.d === 0) return `${ms / UNIT_MS.d}d`;
  if (ms !== 0 && ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  if (ms !== 0 && ms % UNIT_MS.m === 0) return `${ms / UNIT_MS.m}m`;
  return `${Math.round(ms / UNIT_MS.s)}s`;
}
