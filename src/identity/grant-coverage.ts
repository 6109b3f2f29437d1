import type { Coordination } from '../store/coordination.ts';
import type { PrincipalRow, Store, TokenRow } from '../store/types.ts';
import type { Credentials } from './credentials.ts';
import { accessFor, type Access, type RoleGrant } from './roles.ts';

/** What a change of groups took from a person's grants. */
export interface LostGrants {
  /** They held admin (which covers every connection) and no longer do. */
  readonly admin: boolean;
  /** Connections their user grants covered and no longer do; with `admin`, every connection not covered now. */
  readonly connections: readonly string[];
  /** What their grants still cover. */
  readonly remaining: Access;
}

/** One person whose groups changed, and the agent tokens that cut. */
export interface GrantCut {
  readonly principalId: string;
  readonly user: string;
  readonly lostAdmin: boolean;
  readonly lostConnections: readonly string[];
  readonly revokedTokens: readonly string[];
}

export interface GroupChange {
  /** The principal as stored after the change. */
  readonly principal: PrincipalRow;
  readonly groupsBefore: readonly string[];
}

export interface GrantCoverageDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly coordination: Coordination;
  /** identity.roles as configured now. */
  readonly roleGrants: () => readonly RoleGrant[];
  readonly now?: () => number;
}

const isAdmin = (access: Access) => access.roles.includes('admin');

/** Null when the change took nothing away (a group added, or one that granted nothing). */
export function lostGrants(before: Access, after: Access): LostGrants | null {
  if (isAdmin(after)) return null;
  const now = new Set(after.connections);
  const connections = before.connections.filter((name) => !now.has(name));
  if (!isAdmin(before) && connections.length === 0) return null;
  return { admin: isAdmin(before), connections, remaining: after };
}

/**
 * A token is cut when it reaches a connection the change took away: any connection it names that
 * the remaining grants do not cover once admin is lost, else one of the lost connections. A token
 * an admin issued for the person beyond their grants (`token create --for`) is left alone unless
 * it also reaches a lost connection: a change of groups withdraws only what the groups gave.
 * A token scoped to no list (null) reaches everything, so any loss cuts it.
 */
export function reachesLost(token: Pick<TokenRow, 'connections'>, lost: LostGrants): boolean {
  if (token.connections === null) return true;
  if (lost.admin) return token.connections.some((name) => !lost.remaining.connections.includes(name));
  return token.connections.some((name) => lost.connections.includes(name));
}

/**
 * Keeps a person's agent (gth_) tokens within their grants when their groups change. Admin API
 * tokens need nothing: roles are read from the store on every call. Agent tokens carry the
 * connections they were issued for, so one issued under a grant the person has lost would keep
 * working until it expires; these are revoked, and the revocation goes out as one event that ends
 * their live sessions on every replica. Used by SCIM group changes; sign-ins that change groups
 * can call it the same way.
 */
export class GrantCoverage {
  private readonly now: () => number;

  constructor(private readonly deps: GrantCoverageDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Revokes what each change no longer covers and publishes one `tokens.revoked` event for all of them. */
  async apply(changes: readonly GroupChange[], reason: string): Promise<GrantCut[]> {
    const grants = this.deps.roleGrants();
    const cuts: GrantCut[] = [];
    for (const { principal, groupsBefore } of changes) {
      const lost = lostGrants(accessFor({ kind: principal.kind, groups: groupsBefore }, grants), accessFor(principal, grants));
      if (lost === null) continue;
      // Listed after the groups were written: a token issued from here on is checked against the new groups.
      const live = await this.deps.store.listTokens({ principalId: principal.id, now: this.now() });
      const revokedTokens: string[] = [];
      for (const token of live) {
        if (token.kind !== 'agent' || !reachesLost(token, lost)) continue;
        revokedTokens.push(...(await this.deps.credentials.revoke(token.id)));
      }
      if (revokedTokens.length === 0) continue;
      cuts.push({ principalId: principal.id, user: principal.name, lostAdmin: lost.admin, lostConnections: [...lost.connections], revokedTokens });
    }
    const tokenIds = cuts.flatMap((cut) => cut.revokedTokens);
    if (tokenIds.length > 0) await this.deps.coordination.publish({ type: 'tokens.revoked', tokenIds, reason });
    return cuts;
  }
}
