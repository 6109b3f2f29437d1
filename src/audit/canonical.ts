/**
 * The canonical form of each audit event the ledger covers, and of a ledger entry. Each form is a
 * JSON array in a fixed order (never an object whose key order could vary), hashed with SHA-256.
 * Verifying recomputes these from the stored rows: any change to a covered field changes the hash.
 */
import { createHash } from 'node:crypto';
import type { AuditEventRow, LedgerEntryRow, SessionRow } from '../store/types.ts';

export const LEDGER_KINDS = ['session.start', 'session.end', 'interaction', 'audit.open', 'audit.event', 'audit.complete'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sessionStartHash(s: Pick<SessionRow, 'id' | 'principalId' | 'principalName' | 'tokenId' | 'connection' | 'protocol' | 'clientAddr' | 'startedAt' | 'replicaId'>): string {
  return sha256(JSON.stringify(['session.start', s.id, s.principalId, s.principalName, s.tokenId, s.connection, s.protocol, s.clientAddr, s.startedAt, s.replicaId ?? null]));
}

export function sessionEndHash(id: string, endedAt: number | null, endReason: string | null): string {
  return sha256(JSON.stringify(['session.end', id, endedAt, endReason]));
}

/** What an audit event is from the moment it is written: who, when, which action. */
function auditCore(e: AuditEventRow): unknown[] {
  return [e.id, e.at, e.replicaId, e.actorId, e.actorName, e.actorKind, e.credentialId, e.action];
}

/** What completing it sets. */
function auditTail(e: Pick<AuditEventRow, 'outcome' | 'target' | 'details'>): unknown[] {
  return [e.outcome, e.target, e.details];
}

/** A write-ahead event (outcome not yet known): its target and details may still change at completion. */
export function auditOpenHash(e: AuditEventRow): string {
  return sha256(JSON.stringify(['audit.open', ...auditCore(e)]));
}

/** An event written complete, in full. */
export function auditEventHash(e: AuditEventRow): string {
  return sha256(JSON.stringify(['audit.event', ...auditCore(e), ...auditTail(e)]));
}

export function auditCompleteHash(id: string, e: Pick<AuditEventRow, 'outcome' | 'target' | 'details'>): string {
  return sha256(JSON.stringify(['audit.complete', id, ...auditTail(e)]));
}

/** An entry seals its writer, place, event and predecessor: moving, editing or dropping one breaks the next link. */
export function entryHash(e: Omit<LedgerEntryRow, 'hash'>): string {
  return sha256(JSON.stringify([e.prevHash ?? 'genesis', e.writer, e.seq, e.kind, e.refId, e.eventHash, e.at]));
}
