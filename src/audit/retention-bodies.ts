/**
 * Recorded bodies: bounded to `recording.maxBodyBytes` with an explicit truncation marker, and
 * sealed by digest rather than by text, so retention can drop a body while its row still verifies.
 *
 * The shapes (TruncationMarker, BodyDigest, BodyDigests) live in store/types.ts, since rows carry
 * them; this module is where everything else reads them (replay shows `describeTruncation`).
 */
import { createHash } from 'node:crypto';
import type { BodyDigest, BodyDigests, InteractionRow, TruncationMarker } from '../store/types.ts';

export type { BodyDigest, BodyDigests, TruncationMarker } from '../store/types.ts';

export interface BoundBody {
  readonly text: string | null;
  readonly digest: BodyDigest | null;
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The first `maxBytes` bytes of a text, cut before a character the cut would split: a multi-byte
 * character is never kept in part, so the result is valid UTF-8 of at most `maxBytes` bytes.
 */
export function headBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character the cut falls in.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** The stored text's digest, with the marker when `original` was longer than what is stored. */
function digestOf(stored: string, original: { bytes: number; sha256: () => string } | null): BodyDigest {
  const bytes = Buffer.byteLength(stored);
  const digest: BodyDigest = { sha256: sha256Hex(stored), bytes };
  if (original === null || original.bytes <= bytes) return digest;
  return { ...digest, truncated: { originalBytes: original.bytes, keptBytes: bytes, sha256: original.sha256() } };
}

/**
 * Bounds a body that is already as it will be stored (masked, redacted): over `maxBytes` it is cut
 * and marked, the marker naming the size and digest of `original` (the text before redaction, when
 * only its head was redacted; else the same text).
 */
export function boundBody(text: string | null, maxBytes: number, original: string | null = text): BoundBody {
  if (text === null) return { text: null, digest: null };
  // Most bodies are far below the bound: the length check spares measuring their bytes.
  const kept = text.length <= maxBytes / 4 || Buffer.byteLength(text) <= maxBytes ? text : headBytes(text, maxBytes);
  const source = original ?? text;
  if (source === kept) return { text: kept, digest: digestOf(kept, null) };
  return { text: kept, digest: digestOf(kept, { bytes: Buffer.byteLength(source), sha256: () => sha256Hex(source) }) };
}

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB'] as const;

/** 65536 → "64 KiB", 3250585 → "3.1 MiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} bytes`;
  const shown = value >= 10 || Number.isInteger(value) ? Math.round(value).toString() : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${UNITS[unit]}`;
}

/** What replay and the CLI print after a cut body: "[truncated: kept 64 KiB of 3.1 MiB]". */
export function describeTruncation(marker: TruncationMarker): string {
  return `[truncated: kept ${formatBytes(marker.keptBytes)} of ${formatBytes(marker.originalBytes)}]`;
}

/** What to show after a recorded body, or null: its truncation, or that retention removed it. */
export function bodyNote(row: Pick<InteractionRow, 'bodyDigests' | 'bodiesPurgedAt'>, which: 'request' | 'response'): string | null {
  const digest = row.bodyDigests?.[which] ?? null;
  if (digest === null) return null;
  if (typeof row.bodiesPurgedAt === 'number') return '[body removed by retention]';
  return digest.truncated ? describeTruncation(digest.truncated) : null;
}

/**
 * How a row's stored bodies stand against the digests its seal covers: 'intact', 'purged' (a body
 * is gone; whether retention may have removed it is the caller's to judge) or 'changed'.
 */
export function bodiesState(row: Pick<InteractionRow, 'requestBody' | 'responseBody' | 'bodyDigests'>): 'intact' | 'purged' | 'changed' {
  const digests: BodyDigests | null | undefined = row.bodyDigests;
  if (!digests) return 'intact';
  let purged = false;
  for (const [text, digest] of [[row.requestBody, digests.request], [row.responseBody, digests.response]] as const) {
    if (digest === null) {
      if (text !== null) return 'changed';
      continue;
    }
    if (text === null) purged = true;
    else if (Buffer.byteLength(text) !== digest.bytes || sha256Hex(text) !== digest.sha256) return 'changed';
  }
  return purged ? 'purged' : 'intact';
}
