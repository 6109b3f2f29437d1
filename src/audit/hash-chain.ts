import { createHash } from 'node:crypto';
import type { InteractionRow } from '../store/types.ts';
import { bodiesState } from './retention-bodies.ts';

/**
 * The fields a recorded interaction is sealed over, in a fixed order. Fields added after chains
 * were first recorded go, by name and only when set, into one object appended at the end: a row
 * without them hashes exactly as it did when it was sealed, so old chains still verify, while a set
 * one changes the hash. Named rather than positional, so a later field cannot be mistaken for one
 * that is absent. Add new fields to `later` the same way; never move one into the array.
 */
function sealedFields(row: InteractionRow): unknown[] {
  // Rows with digests (migration 18) seal each body by its digest (an object where older rows have
  // a string, so neither can pass for the other): retention can drop the text and the seal holds.
  const digests = row.bodyDigests ?? null;
  const fields: unknown[] = [
    row.id, row.sessionId, row.seq, row.kind, row.status, row.decision, row.rule, row.reason, row.method, row.target, row.model,
    row.summary, digests ? digests.request : row.requestBody, row.responseStatus, digests ? digests.response : row.responseBody,
    row.errorCode, row.bytesIn, row.bytesOut, row.startedAt, row.completedAt, row.latencyMs,
  ];
  const later: Record<string, unknown> = {};
  // typeof, not `!== null`: a row built by code that predates the field has it undefined, which seals as absent too.
  if (typeof row.upstreamCode === 'string') later.upstreamCode = row.upstreamCode;
  if (Object.keys(later).length > 0) fields.push(later);
  return fields;
}

/** Each completed interaction seals its content and its predecessor's hash, so an edit or a deletion breaks the chain. */
export function sealInteraction(row: InteractionRow, prevHash: string | null): string {
  return createHash('sha256')
    .update(prevHash ?? 'genesis')
    .update('\n')
    .update(JSON.stringify(sealedFields(row)))
    .digest('hex');
}

export interface ChainReport {
  readonly ok: boolean;
  readonly checked: number;
  /** Open or interrupted interactions: recorded before forwarding, never completed (e.g. a crash). */
  readonly unsealed: number;
  readonly problems: readonly string[];
}

/**
 * Rows complete out of seq order when requests overlap, so the chain follows prevHash links rather
 * than seq: exactly one row starts from genesis and every link is used once.
 */
export function verifyChain(rows: readonly InteractionRow[]): ChainReport {
  const problems: string[] = [];
  const sealed = rows.filter((r) => r.hash !== null);
  const byPrev = new Map<string, InteractionRow[]>();
  for (const row of sealed) {
    const bodies = bodiesState(row);
    // A body gone without the purge mark was removed by hand; verify-trail checks the mark against the purge record.
    const bodiesOk = bodies === 'intact' || (bodies === 'purged' && typeof row.bodiesPurgedAt === 'number');
    if (sealInteraction(row, row.prevHash) !== row.hash || !bodiesOk) problems.push(`interaction ${row.id} (seq ${row.seq}) was altered after recording`);
    const key = row.prevHash ?? 'genesis';
    byPrev.set(key, [...(byPrev.get(key) ?? []), row]);
  }
  let cursor = 'genesis';
  let walked = 0;
  for (;;) {
    const next = byPrev.get(cursor);
    if (!next) break;
    if (next.length > 1) problems.push(`chain forks after ${cursor === 'genesis' ? 'the start' : cursor.slice(0, 12)}`);
    walked++;
    cursor = next[0]!.hash!;
  }
  if (walked !== sealed.length) problems.push(`${sealed.length - walked} recorded interaction(s) are not on the chain: a record was removed or inserted`);
  const unsealed = rows.length - sealed.length;
  return { ok: problems.length === 0, checked: rows.length, unsealed, problems };
}
