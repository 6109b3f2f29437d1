/**
 * Just-in-time access transitions in audit_events, beside the admin actions (`gatehouse audit`
 * shows both): requested, approved (the grant issued), denied, withdrawn, expired, revoked. Each
 * row is written by the one replica whose conditional update made the change, so it appears once.
 * A row that cannot be written is logged at error: the change itself already took effect.
 */
import type { Logger } from 'pino';
import type { AuditEventRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

export type AccessAction = 'access.requested' | 'access.approved' | 'access.denied' | 'access.withdrawn' | 'access.expired' | 'access.revoked';

export interface AuditActor {
  readonly id: string;
  readonly name: string;
  readonly kind: AuditEventRow['actorKind'];
  readonly tokenId: string | null;
}

/** The gateway itself: what ends because its time is up. */
export const GATEWAY: AuditActor = { id: 'gatehouse', name: 'gatehouse', kind: 'admin', tokenId: null };

export function accessAudit(store: Store, logger: Logger, replicaId: string, now: () => number) {
  return {
    async record(action: AccessAction, actor: AuditActor, target: string, details: Record<string, unknown>): Promise<void> {
      const at = now();
      const row: AuditEventRow = {
        id: newId('aud', at),
        at,
        replicaId,
        actorId: actor.id,
        actorName: actor.name,
        actorKind: actor.kind,
        credentialId: actor.tokenId,
        action,
        target,
        outcome: 200,
        details: Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined)),
      };
      try {
        await store.insertAuditEvent(row);
      } catch (err) {
        logger.error({ err, action, target, actor: actor.name }, 'access grants: could not record a transition in the audit trail');
      }
    },
  };
}
