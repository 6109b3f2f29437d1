import { InvalidArgument, NotFound } from '../errors.ts';
import type { Coordination } from '../store/coordination.ts';
import type { PrincipalRow, ServiceAccountRow, Store } from '../store/types.ts';
import type { Credentials } from './credentials.ts';

/** What disabling a person cut, as the API, the CLI, SCIM and the audit record name it. */
export interface DisableResult {
  readonly user: string;
  readonly userId: string;
  /** Every token revoked by this call: the person's own, those exchanged from them, their service accounts'. */
  readonly revokedTokens: string[];
  /** Service accounts the person owned that this call disabled. */
  readonly disabledServiceAccounts: string[];
  /** The person was disabled already (what was left live was still cut). */
  readonly wasDisabled: boolean;
}

export interface OffboardingDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly coordination: Coordination;
  readonly now?: () => number;
}

/**
 * Whether a person owns an account: by the owner's principal id, stored since migration 11 (the
 * owner is resolved to a principal at creation). An account made before that has only the owner
 * text as it was typed, matched against the person's name in any case, so more is cut rather than less.
 */
export function ownedBy(account: Pick<ServiceAccountRow, 'owner' | 'ownerId'>, user: Pick<PrincipalRow, 'id' | 'name'>): boolean {
  if (account.ownerId) return account.ownerId === user.id;
  return account.owner.toLowerCase() === user.name.toLowerCase();
}

/**
 * Offboarding, one implementation for `gatehouse users disable`, the API and SCIM. Disabling a
 * person refuses their next verification (the principal is disabled first, so a token issued
 * meanwhile is refused too), revokes every token they hold and every token derived from one, and
 * disables every service account they own with its secret and exchanged tokens. The revocations
 * go out as one event every replica applies (credential-watch ends live streams and Postgres
 * sessions), then `principal.disabled` drops cached verifications of the person everywhere.
 * Enabling lets the person sign in again and revives nothing.
 */
export class Offboarding {
  private readonly now: () => number;

  constructor(private readonly deps: OffboardingDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** A user principal by name; admin and service-account principals are not people to offboard here. */
  async findUser(name: string): Promise<PrincipalRow> {
    const user = await this.deps.store.findPrincipal('user', name);
    if (!user) throw new NotFound(`no user named "${name}" (users appear once they are given a token, sign in, or are provisioned over SCIM)`);
    return user;
  }

  async disable(user: PrincipalRow, reason = 'user disabled'): Promise<DisableResult> {
    if (user.kind !== 'user') throw new InvalidArgument(`"${user.name}" is not a user; disable service accounts with gatehouse service-accounts disable`);
    const { store, credentials, coordination } = this.deps;
    const at = this.now();
    await store.disablePrincipal(user.id, at);
    const owned = (await store.listServiceAccounts()).filter((account) => ownedBy(account, user));
    const disabledServiceAccounts: string[] = [];
    for (const account of owned) {
      if (account.disabledAt !== null) continue;
      await store.disableServiceAccount(account.id, at);
      disabledServiceAccounts.push(account.name);
    }
    const revokedTokens = await credentials.revokePrincipal(user.id);
    // Accounts disabled earlier are swept too: a token exchanged in a race with that disable is cut now.
    for (const account of owned) revokedTokens.push(...(await credentials.revokePrincipal(account.id)));

    if (revokedTokens.length > 0) await coordination.publish({ type: 'tokens.revoked', tokenIds: revokedTokens, reason });
    await coordination.publish({ type: 'principal.disabled', principalId: user.id });
    for (const account of owned) {
      if (disabledServiceAccounts.includes(account.name)) await coordination.publish({ type: 'principal.disabled', principalId: account.id });
    }
    return { user: user.name, userId: user.id, revokedTokens, disabledServiceAccounts, wasDisabled: user.disabledAt !== null };
  }

  /** Lets the person be verified again. Revoked tokens stay revoked and disabled service accounts stay disabled. */
  async enable(user: PrincipalRow): Promise<void> {
    if (user.kind !== 'user') throw new InvalidArgument(`"${user.name}" is not a user`);
    await this.deps.store.enablePrincipal(user.id);
  }
}
