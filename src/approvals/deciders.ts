/**
 * Who may decide an approval: a person holding the approver role (or admin) who is a member of one
 * of the approval's approver groups, or of a break-glass group; never the requester approving their
 * own request. Groups compare exactly, as roles do: a look-alike name is another group.
 */
import { AuthError, ForbiddenError } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import { rolesFor, type RoleGrant } from '../identity/roles.ts';
import { ownedBy } from '../identity/offboarding.ts';
import type { ApprovalRow, Store } from '../store/types.ts';

export interface DeciderCheck {
  /** Member of a break-glass group: an approval of theirs is enough alone. */
  readonly breakGlass: boolean;
}

export function checkDecider(
  approver: Principal,
  approval: Pick<ApprovalRow, 'id' | 'principalId' | 'approvers'>,
  vote: 'approve' | 'deny',
  grants: readonly RoleGrant[],
  breakGlassGroups: readonly string[],
  /** The requester is a service account the approver owns: their own request under another name. */
  ownsRequester = false,
): DeciderCheck {
  const roles = rolesFor(approver, grants);
  if (!roles.includes('approver') && !roles.includes('admin')) {
    throw new ForbiddenError('forbidden_role', `deciding approval ${approval.id} needs the role approver or admin; this identity holds ${roles.join(', ') || 'none'}`, {
      details: { allowed: ['admin', 'approver'], held: [...roles] },
    });
  }
  // Approvers are people: neither the bootstrap admin identity nor a service account (a workload) approves, whatever its groups.
  if (vote === 'approve' && approver.kind !== 'user') {
    throw new ForbiddenError('forbidden_role', `approval ${approval.id} is approved by people; ${approver.name} is a${approver.kind === 'admin' ? 'n admin identity' : ' service account'}`, {
      details: { allowed: ['a person with the approver role'] },
    });
  }
  if (vote === 'approve' && approver.id === approval.principalId) {
    throw new ForbiddenError('forbidden_role', `approval ${approval.id} is for your own request: nobody approves their own request; ask another approver`, {
      details: { allowed: ['another approver'] },
    });
  }
  if (vote === 'approve' && ownsRequester) {
    throw new ForbiddenError('forbidden_role', `approval ${approval.id} is for a request of a service account you own: nobody approves their own request; ask another approver`, {
      details: { allowed: ['another approver'] },
    });
  }
  const groups = new Set(approver.groups);
  const breakGlass = breakGlassGroups.some((group) => groups.has(group));
  const member = approval.approvers.some((group) => groups.has(group));
  if (!member && !breakGlass) {
    throw new ForbiddenError(
      'forbidden_role',
      `approval ${approval.id} is decided by members of ${approval.approvers.join(', ')}; ${approver.name} is a member of none of them`,
      { details: { allowed: [...approval.approvers] } },
    );
  }
  // A break-glass member's approval is always recorded as such, loudly, even where they also belong to an approver group.
  return { breakGlass: breakGlass && vote === 'approve' };
}

/**
 * The approver as the store knows them now, not as their token was read: a person disabled, or
 * moved out of a group, since they signed in decides nothing with that group.
 */
export async function currentDecider(store: Pick<Store, 'getPrincipal'>, approver: Principal): Promise<Principal> {
  const row = await store.getPrincipal(approver.id);
  if (!row || row.disabledAt !== null) throw new AuthError('auth_revoked', `${approver.name} is disabled or unknown in Gatehouse, so cannot decide approvals`);
  return { id: row.id, kind: row.kind, name: row.name, groups: [...row.groups] };
}

/**
 * Whether the requester is a service account the decider owns: its owner holds (or can have) its
 * secret, so approving its request is approving their own.
 */
export async function ownsRequester(store: Pick<Store, 'getServiceAccount'>, decider: Pick<Principal, 'id' | 'name'>, requesterId: string): Promise<boolean> {
  const account = await store.getServiceAccount(requesterId);
  return account !== null && account.id === requesterId && ownedBy(account, decider);
}
