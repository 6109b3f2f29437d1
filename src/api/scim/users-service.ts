import type { DisableResult, Offboarding } from '../../identity/offboarding.ts';
import { nameKey } from '../../store/scim-rows.ts';
import type { PrincipalRow, ScimUserRow, Store } from '../../store/types.ts';
import { newId } from '../../util/ids.ts';
import { scimConflict, scimNotFound } from './errors.ts';
import type { ScimGroups } from './groups-service.ts';
import { applyPatch, readPatch } from './patch.ts';
import { USER_PATCH, patchBase, readUser, type UserInput, type UserView } from './user-resource.ts';

export interface UserChange {
  readonly view: UserView;
  /** Set when the request disabled the person: what it cut. */
  readonly cut?: DisableResult;
}

/**
 * Users an identity provider provisions. userName is the user principal's name, compared in any
 * case as SCIM compares it: a user who got a token or signed in before SCIM was set up is linked,
 * not duplicated, even when the provider spells the name in another case (Carol@corp.com signed
 * in, Okta sends carol@corp.com), so that deactivating them cuts what they hold. Two people whose
 * names differ only in case cannot be told apart that way: SCIM refuses to pick one (409
 * uniqueness) rather than offboard the wrong one, or nobody. `active: false`, from a PUT, a PATCH
 * or a DELETE, offboards the person exactly as `gatehouse users disable` does. `active: true`
 * enables them only when the provider itself had sent false before: a routine sync repeating
 * true never undoes a disable made in the gateway.
 */
export class ScimUsers {
  constructor(
    private readonly store: Store,
    private readonly offboarding: Offboarding,
    private readonly groups: ScimGroups,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<UserView[]> {
    const [rows, principals, groups, memberships] = await Promise.all([
      this.store.listScimUsers(),
      this.store.listPrincipals(),
      this.store.listScimGroups(),
      this.store.listScimMemberships({}),
    ]);
    const byId = new Map(principals.map((p) => [p.id, p]));
    return rows.flatMap((scim) => {
      const principal = byId.get(scim.principalId);
      if (!principal) return [];
      const mine = new Set(memberships.filter((m) => m.principalId === scim.principalId).map((m) => m.groupId));
      return [{ principal, scim, groups: groups.filter((g) => mine.has(g.id)) }];
    });
  }

  async findByUserName(userName: string): Promise<UserView[]> {
    const row = await this.store.findScimUserByUserName(userName);
    return row ? [await this.view(row)] : [];
  }

  async get(id: string): Promise<UserView> {
    const row = await this.store.getScimUser(id);
    if (!row) throw scimNotFound('User', id);
    return this.view(row);
  }

  async create(input: UserInput): Promise<UserChange> {
    if (await this.store.findScimUserByUserName(input.userName)) throw scimConflict(`a User with userName "${input.userName}" exists already`);
    const at = this.now();
    let principal = await this.userNamed(input.userName);
    if (principal && (await this.store.getScimUser(principal.id))) throw scimConflict(`the user "${input.userName}" is provisioned already`);
    if (!principal) {
      principal = { id: newId('usr', at), kind: 'user', name: input.userName, groups: [], createdAt: at, disabledAt: null };
      await this.store.insertPrincipal(principal);
    }
    const row: ScimUserRow = {
      principalId: principal.id,
      userName: input.userName,
      externalId: input.externalId,
      active: input.active ?? true,
      attributes: input.attributes as Record<string, unknown>,
      createdAt: at,
      updatedAt: at,
    };
    await this.store.insertScimUser(row);
    const cut = row.active ? undefined : await this.offboarding.disable(principal, `user ${principal.name} created inactive over SCIM`);
    return { view: await this.view(row), ...(cut ? { cut } : {}) };
  }

  async replace(id: string, input: UserInput): Promise<UserChange> {
    const current = await this.store.getScimUser(id);
    if (!current) throw scimNotFound('User', id);
    if (input.userName !== current.userName) await this.rename(current, input.userName);
    const row: ScimUserRow = {
      ...current,
      userName: input.userName,
      externalId: input.externalId,
      active: input.active ?? current.active,
      attributes: input.attributes as Record<string, unknown>,
      updatedAt: this.now(),
    };
    await this.store.updateScimUser(row);
    const principal = await this.principal(id);
    let cut: DisableResult | undefined;
    if (input.active === false) cut = await this.offboarding.disable(principal, `user ${principal.name} deactivated over SCIM`);
    else if (input.active === true && !current.active && principal.disabledAt !== null) await this.offboarding.enable(principal);
    return { view: await this.view(row), ...(cut ? { cut } : {}) };
  }

  async patch(id: string, body: unknown): Promise<UserChange> {
    const current = await this.store.getScimUser(id);
    if (!current) throw scimNotFound('User', id);
    const operations = readPatch(body, USER_PATCH);
    const input = readUser(applyPatch(patchBase(current), operations));
    // A patch that does not name active leaves it alone (readUser reads back the provider's last value).
    const namesActive = operations.some((o) => o.path === 'active' || (o.path === undefined && o.value !== null && typeof o.value === 'object' && 'active' in o.value));
    return this.replace(id, namesActive ? input : { ...input, active: undefined });
  }

  /** DELETE: the person is offboarded and no longer provisioned; the principal stays, disabled, for the record. */
  async remove(id: string): Promise<DisableResult> {
    const current = await this.store.getScimUser(id);
    if (!current) throw scimNotFound('User', id);
    const principal = await this.principal(id);
    const cut = await this.offboarding.disable(principal, `user ${principal.name} deleted over SCIM`);
    await this.store.deleteScimUser(id);
    await this.groups.syncPrincipalGroups([id]);
    return cut;
  }

  private async rename(current: ScimUserRow, userName: string): Promise<void> {
    const other = await this.store.findScimUserByUserName(userName);
    if (other && other.principalId !== current.principalId) throw scimConflict(`a User with userName "${userName}" exists already`);
    const taken = (await this.usersNamedInAnyCase(userName)).filter((p) => p.id !== current.principalId);
    if (taken.length > 0) throw scimConflict(`another user is named "${taken[0]!.name}" (user names are compared in any case)`);
    await this.store.renamePrincipal(current.principalId, userName);
  }

  /**
   * The one user principal this userName names in any case; null when none does. Of several, the
   * only one still enabled is the person (an admin disabled the others to settle which is which).
   */
  private async userNamed(userName: string): Promise<PrincipalRow | null> {
    const found = await this.usersNamedInAnyCase(userName);
    if (found.length <= 1) return found[0] ?? null;
    const enabled = found.filter((p) => p.disabledAt === null);
    if (enabled.length === 1) return enabled[0]!;
    const names = found.slice(0, 5).map((p) => `"${p.name}"`).join(', ');
    throw scimConflict(
      `users ${names} differ only in case, so userName "${userName}" cannot say which person it is: an admin keeps the one that is ` +
        'this person enabled and disables the others (gatehouse users disable / enable), then the provider retries',
    );
  }

  private async usersNamedInAnyCase(userName: string): Promise<PrincipalRow[]> {
    const key = nameKey(userName);
    return (await this.store.listPrincipals()).filter((p) => p.kind === 'user' && nameKey(p.name) === key);
  }

  private async principal(id: string): Promise<PrincipalRow> {
    const principal = await this.store.getPrincipal(id);
    if (!principal) throw scimNotFound('User', id);
    return principal;
  }

  private async view(scim: ScimUserRow): Promise<UserView> {
    const [principal, memberships, groups] = await Promise.all([
      this.principal(scim.principalId),
      this.store.listScimMemberships({ principalId: scim.principalId }),
      this.store.listScimGroups(),
    ]);
    const mine = new Set(memberships.map((m) => m.groupId));
    return { principal, scim, groups: groups.filter((g) => mine.has(g.id)) };
  }
}
