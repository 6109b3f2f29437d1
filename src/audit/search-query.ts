/**
 * The parts of an audit search a caller writes as text: time bounds (`7d` back from now, an ISO
 * 8601 date or time, or epoch milliseconds) and the opaque token that continues a page.
 */
import { InvalidArgument } from '../errors.ts';
import type { SearchPosition } from '../store/types.ts';
import { parseDuration } from '../util/durations.ts';

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const EPOCH_MS = /^\d{1,15}$/;
const DURATION = /^(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$/;

/** A bound of a time range: `7d` (before now), `2026-12-01`, `2026-12-01T03:00:00Z`, or epoch ms. */
export function parseTimeBound(name: string, text: string, now: number): number {
  const value = text.trim();
  if (value !== '' && DURATION.test(value)) {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      throw new InvalidArgument(`${name}: ${(err as Error).message}`, { details: { field: name } });
    }
    return Math.max(0, now - ms);
  }
  if (EPOCH_MS.test(value)) return Number(value);
  if (ISO.test(value)) {
    // A date or time without a zone is read as UTC, the same on every replica and every laptop.
    const zoned = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value) || !value.includes(':') ? value : `${value}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (Number.isSafeInteger(ms) && ms >= 0) return ms;
  }
  throw new InvalidArgument(`${name}: write a duration back from now (7d, 12h, 30m), an ISO 8601 date or time (2026-12-01, 2026-12-01T03:00:00Z) or epoch milliseconds`, {
    details: { field: name },
  });
}

/** The range [since, until) from the text a caller gave; either end may be open. */
export function timeRange(since: string | undefined, until: string | undefined, now: number): { since?: number; until?: number } {
  const range: { since?: number; until?: number } = {};
  if (since !== undefined) range.since = parseTimeBound('since', since, now);
  if (until !== undefined) range.until = parseTimeBound('until', until, now);
  if (range.since !== undefined && range.until !== undefined && range.since >= range.until) {
    throw new InvalidArgument('the time range is empty: since must come before until', { details: { field: 'since' } });
  }
  return range;
}

const TOKEN = /^[A-Za-z0-9_-]{1,200}$/;
const POSITION = /^(\d{1,15})\.([A-Za-z0-9_-]{1,100})$/;

/** The token for the page after the one that ended at this row. Not a secret: it says where a page ended. */
export function pageToken(position: SearchPosition): string {
  return Buffer.from(`${position.startedAt}.${position.id}`, 'utf8').toString('base64url');
}

/** Reads a token pageToken made; anything else is refused rather than guessed at. */
export function readPageToken(token: string): SearchPosition {
  const decoded = TOKEN.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  const parts = POSITION.exec(decoded);
  // Re-encoding must give the same token: no padding, whitespace or other spelling of one position.
  if (!parts || pageToken({ startedAt: Number(parts[1]), id: parts[2]! }) !== token) {
    throw new InvalidArgument('after: not a page token this gateway gave; start again without it', { details: { field: 'after' } });
  }
  return { startedAt: Number(parts[1]), id: parts[2]! };
}
