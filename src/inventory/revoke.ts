/**
 * Retiring agents in one step: the agent is marked revoked first (so no credential is issued for it
 * again), then every live token is revoked and every service account disabled through the existing
 * paths, and one `tokens.revoked` event makes every replica end the live sessions that used them.
 * Each agent revoked is an audit event of its own.
 */
import type { Coordination } from '../store/coordination.ts';
import type { AuditEventRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import type { Snapshot } from './snapshot.ts';

export interface RevokePlan {
  readonly agentId: string;
  readonly agent: string;
  readonly owner: string;
  /** Live tokens (gth_) to revoke. */
  readonly tokens: readonly string[];
  /** Service accounts (by name) to disable, which revokes their secret and what it bought. */
  readonly serviceAccounts: readonly string[];
  readonly liveSessions: number;
  readonly alreadyRevoked: boolean;
}

export interface RevokeResult extends RevokePlan {
  /** Every token id revoked now, exchanged ones included. */
  readonly revoked: readonly string[];
}

export interface RevokeActor {
  readonly id: string;
  readonly name: string;
  readonly kind: AuditEventRow['actorKind'];
  readonly credentialId: string | null;
}

export interface RevokeDeps {
  readonly store: Store;
  readonly credentials: { revoke(tokenId: string): Promise<string[]> };
  readonly serviceAccounts: { disable(idOrName: string): Promise<{ revoked: string[] }> };
  readonly coordination: Pick<Coordination, 'publish' | 'replicaId'>;
  readonly now: () => number;
}

export function planRevoke(snapshot: Snapshot, agentIds: readonly string[]): RevokePlan[] {
  return agentIds.map((id) => {
    const entry = snapshot.agents.find((a) => a.agent.id === id);
    if (!entry) throw new Error(`agent ${id} is not in the snapshot`);
    const live = entry.credentials.filter((c) => c.live);
    return {
      agentId: id,
      agent: entry.agent.name,
      owner: entry.agent.owner,
      tokens: live.filter((c) => c.kind === 'token').map((c) => c.id),
      serviceAccounts: live.filter((c) => c.kind === 'service_account').map((c) => c.name),
      liveSessions: entry.liveSessions.length,
      alreadyRevoked: entry.agent.revokedAt !== null,
    };
  });
}

export async function applyRevoke(deps: RevokeDeps, plans: readonly RevokePlan[], actor: RevokeActor, reason: string): Promise<RevokeResult[]> {
  const results: RevokeResult[] = [];
  const all: string[] = [];
  try {
    for (const plan of plans) {
      const at = deps.now();
      // Marked first: a token asked for meanwhile is refused instead of escaping the revocation.
      const first = await deps.store.revokeAgent(plan.agentId, at, actor.name);
      const revoked: string[] = [];
      for (const account of plan.serviceAccounts) revoked.push(...(await deps.serviceAccounts.disable(account)).revoked);
      for (const token of plan.tokens) revoked.push(...(await deps.credentials.revoke(token)));
      all.push(...revoked);
      results.push({ ...plan, alreadyRevoked: !first, revoked });
      await deps.store.insertAuditEvent({
        id: newId('aud', at),
        at,
        replicaId: deps.coordination.replicaId,
        actorId: actor.id,
        actorName: actor.name,
        actorKind: actor.kind,
        credentialId: actor.credentialId,
        action: 'agent.revoked',
        target: plan.agentId,
        outcome: 200,
        details: { agent: plan.agent, owner: plan.owner, reason, revoked, serviceAccounts: plan.serviceAccounts, liveSessions: plan.liveSessions, already: !first },
      });
    }
  } finally {
    // Whatever was revoked before a failure still ends its sessions on every replica.
    if (all.length > 0) await deps.coordination.publish({ type: 'tokens.revoked', tokenIds: [...new Set(all)], reason: 'revoked' });
  }
  return results;
}
