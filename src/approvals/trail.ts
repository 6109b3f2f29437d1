/**
 * The approvals' audit trail: every change of an approval is a row in audit_events (the table the
 * admin actions use, so `gatehouse audit events` shows both), with who, when and why.
 *
 * Each row is written ahead of the change it records (outcome null), then completed: 200 when the
 * change took effect, 409 when it did not (another replica or approver decided first). What lets a
 * request run (a creation, an approving vote, an approval, a use) is never carried out unless its
 * row was written first: the store failing, the change is refused and nothing runs. What stops a
 * request (a deny, an expiry, a withdrawal) is carried out even when its row cannot be written, and
 * the row is then logged at error instead: refusing it would leave a request that should never run
 * runnable.
 */
import type { Logger } from 'pino';
import { GatewayError, StoreError } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import type { ApprovalRow, AuditEventRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

export type ApprovalAction =
  | 'approval.created'
  | 'approval.voted'
  /** An approving vote by a member of a break-glass group: enough alone. Its own action, so it is found and alerted on. */
  | 'approval.break_glass'
  | 'approval.approved'
  | 'approval.denied'
  | 'approval.expired'
  | 'approval.withdrawn'
  | 'approval.used';

/** Who made a change: a person (with the token they used, when known), or the gateway itself (an expiry). */
export interface TrailActor {
  readonly id: string;
  readonly name: string;
  readonly kind: AuditEventRow['actorKind'];
  readonly tokenId: string | null;
}

export const GATEWAY_ACTOR: TrailActor = { id: 'gatehouse', name: 'gatehouse', kind: 'gateway', tokenId: null };

export const actorOf = (principal: Pick<Principal, 'id' | 'name' | 'kind'>, tokenId: string | null = null): TrailActor => ({
  id: principal.id,
  name: principal.name,
  kind: principal.kind,
  tokenId,
});

/** The requester of an approval, as its row names them. */
export const requesterOf = (row: Pick<ApprovalRow, 'principalId' | 'principalName' | 'tokenId'>, kind: AuditEventRow['actorKind'] = 'user', tokenId = row.tokenId): TrailActor => ({
  id: row.principalId,
  name: row.principalName,
  kind,
  tokenId,
});

/** A row written ahead; `done` completes it (never throws: the change already happened or did not). */
export interface TrailEntry {
  done(applied: boolean, more?: { target?: string; details?: Record<string, unknown> }): Promise<void>;
}

const NOTHING: TrailEntry = { done: async () => {} };
export const APPLIED = 200;
export const NOT_APPLIED = 409;

export class ApprovalTrail {
  constructor(
    private readonly deps: { store: Pick<Store, 'insertAuditEvent' | 'completeAuditEvent'>; logger: Logger; replicaId: string | null; now: () => number },
  ) {}

  /**
   * Writes the row for a change about to be made. `gate`: the change lets a request run, so a row
   * that cannot be written refuses it (StoreError). Otherwise the failure is logged with the row.
   */
  async begin(action: ApprovalAction, approvalId: string, actor: TrailActor, details: Record<string, unknown>, gate: boolean): Promise<TrailEntry> {
    const at = this.deps.now();
    const row: AuditEventRow = {
      id: newId('aud', at),
      at,
      replicaId: this.deps.replicaId,
      actorId: actor.id,
      actorName: actor.name,
      actorKind: actor.kind,
      credentialId: actor.tokenId,
      action,
      target: approvalId,
      outcome: null,
      details,
    };
    try {
      await this.deps.store.insertAuditEvent(row);
    } catch (err) {
      if (gate) {
        this.deps.logger.error({ err, action, approvalId }, 'approvals: could not record a change that would let a request run; it was not made');
        throw err instanceof StoreError ? err : new StoreError(`${action} of approval ${approvalId} could not be recorded, so it was not made; retry when the store is back`, { cause: err });
      }
      this.deps.logger.error({ err, event: { ...row, outcome: undefined } }, 'approvals: could not record a change; it was made anyway, as it only stops a request from running');
      return NOTHING;
    }
    return {
      done: async (applied, more) => {
        try {
          await this.deps.store.completeAuditEvent(row.id, { outcome: applied ? APPLIED : NOT_APPLIED, target: more?.target ?? approvalId, details: { ...details, ...more?.details } });
        } catch (err) {
          // The change is made (or not) either way; the row stays open (outcome null), which reads as "started, end unknown".
          this.deps.logger.error({ err, action, approvalId, auditEventId: row.id, applied }, 'approvals: could not complete the record of a change');
        }
      },
    };
  }

  /** begin, the change, done: the change's boolean result (true: it took effect) is returned. */
  async record(action: ApprovalAction, approvalId: string, actor: TrailActor, details: Record<string, unknown>, gate: boolean, change: () => Promise<boolean>): Promise<boolean> {
    const entry = await this.begin(action, approvalId, actor, details, gate);
    let applied: boolean;
    try {
      applied = await change();
    } catch (err) {
      // The row stays open: the change was attempted and its outcome is unknown to the store.
      throw err instanceof GatewayError ? err : new StoreError(`${action} of approval ${approvalId} failed`, { cause: err });
    }
    await entry.done(applied);
    return applied;
  }
}
