import { randomUUID } from 'node:crypto';
import type { GrantCoverage, GrantCut, GroupChange } from '../../identity/grant-coverage.ts';
import type { Store, ScimGroupRow } from '../../store/types.ts';
import { scimConflict, scimInvalid, scimNotFound } from './errors.ts';
import { GROUP_PATCH, groupPatchBase, readGroup, type GroupInput } from './group-resource.ts';
import { applyPatch, readPatch } from './patch.ts';

export interface GroupView {
  readonly row: ScimGroupRow;
  readonly members: readonly { id: string; name: string }[];
}

/** A group change, and the agent tokens of members it cut (grants they no longer hold). */
export interface GroupChangeResult {
  readonly view: GroupView;
  readonly cut: readonly GrantCut[];
}

const REASON = 'groups changed over SCIM';

/**
 * Groups an identity provider pushes. A group's displayName is a group name on its members'
 * principals, which roles (identity.roles) and policy read: adding or removing a member changes
 * that person's groups in the store, which the admin API reads on every call and the data plane
 * on its next verification. A member who loses a grant that way loses the agent tokens issued
 * under it too (identity/grant-coverage.ts), on every replica.
 */
export class ScimGroups {
  constructor(
    private readonly store: Store,
    private readonly coverage: GrantCoverage,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<GroupView[]> {
    const [groups, memberships, principals] = await Promise.all([this.store.listScimGroups(), this.store.listScimMemberships({}), this.store.listPrincipals()]);
    const names = new Map(principals.map((p) => [p.id, p.name]));
    return groups.map((row) => ({
      row,
      members: memberships.filter((m) => m.groupId === row.id).map((m) => ({ id: m.principalId, name: names.get(m.principalId) ?? m.principalId })),
    }));
  }

  async findByName(displayName: string): Promise<GroupView[]> {
    const row = await this.store.findScimGroupByName(displayName);
    return row ? [await this.view(row)] : [];
  }

  async get(id: string): Promise<GroupView> {
    const row = await this.store.getScimGroup(id);
    if (!row) throw scimNotFound('Group', id);
    return this.view(row);
  }

  async create(input: GroupInput): Promise<GroupChangeResult> {
    if (await this.store.findScimGroupByName(input.displayName)) throw scimConflict(`a Group named "${input.displayName}" exists already`);
    await this.requireUsers(input.members);
    const at = this.now();
    // SCIM ids are opaque to providers; a UUID is what they are used to.
    const row: ScimGroupRow = { id: randomUUID(), displayName: input.displayName, externalId: input.externalId, createdAt: at, updatedAt: at };
    await this.store.insertScimGroup(row);
    await this.store.addScimMembers(row.id, input.members);
    const cut = await this.syncPrincipalGroups(input.members);
    return { view: await this.view(row), cut };
  }

  async replace(id: string, input: GroupInput): Promise<GroupChangeResult> {
    const current = await this.get(id);
    const renamed = input.displayName !== current.row.displayName;
    if (renamed) {
      const other = await this.store.findScimGroupByName(input.displayName);
      if (other && other.id !== id) throw scimConflict(`a Group named "${input.displayName}" exists already`);
    }
    await this.requireUsers(input.members);
    const row: ScimGroupRow = { ...current.row, displayName: input.displayName, externalId: input.externalId, updatedAt: this.now() };
    await this.store.updateScimGroup(row);
    const before = current.members.map((m) => m.id);
    const wanted = new Set(input.members);
    await this.store.removeScimMembers(id, before.filter((m) => !wanted.has(m)));
    await this.store.addScimMembers(id, input.members);
    const cut = await this.syncPrincipalGroups([...new Set([...before, ...input.members])], renamed ? [current.row.displayName] : []);
    return { view: await this.view(row), cut };
  }

  async patch(id: string, body: unknown): Promise<GroupChangeResult> {
    const current = await this.get(id);
    const operations = readPatch(body, GROUP_PATCH);
    const patched = applyPatch(groupPatchBase(current.row, current.members.map((m) => m.id)), operations);
    return this.replace(id, readGroup(patched));
  }

  async remove(id: string): Promise<GroupChangeResult> {
    const current = await this.get(id);
    await this.store.deleteScimGroup(id);
    const cut = await this.syncPrincipalGroups(current.members.map((m) => m.id), [current.row.displayName]);
    return { view: current, cut };
  }

  /**
   * A person's groups become the groups no SCIM group names (given at token issue or sign-in),
   * plus the SCIM groups they are a member of. `dropNames`: names of groups just renamed or deleted.
   * Returns the agent tokens cut from people whose new groups no longer grant what they reach.
   */
  async syncPrincipalGroups(principalIds: readonly string[], dropNames: readonly string[] = []): Promise<GrantCut[]> {
    if (principalIds.length === 0) return [];
    const groups = await this.store.listScimGroups();
    const scimNames = new Set([...groups.map((g) => g.displayName), ...dropNames]);
    const nameOf = new Map(groups.map((g) => [g.id, g.displayName]));
    const changes: GroupChange[] = [];
    for (const id of new Set(principalIds)) {
      // Read just before the write: a concurrent change to another group of this person is seen.
      const [principal, memberships] = await Promise.all([this.store.getPrincipal(id), this.store.listScimMemberships({ principalId: id })]);
      if (!principal) continue;
      const member = memberships.flatMap((m) => nameOf.get(m.groupId) ?? []).sort();
      const next = [...new Set([...principal.groups.filter((g) => !scimNames.has(g)), ...member])];
      if (next.length === principal.groups.length && next.every((g, i) => g === principal.groups[i])) continue;
      await this.store.setPrincipalGroups(id, next);
      changes.push({ principal: { ...principal, groups: next }, groupsBefore: principal.groups });
    }
    return this.coverage.apply(changes, REASON);
  }

  private async requireUsers(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const known = new Set((await this.store.listScimUsers()).map((u) => u.principalId));
    const unknown = ids.find((id) => !known.has(id));
    if (unknown !== undefined) throw scimInvalid('invalidValue', `members: no User with id "${unknown.slice(0, 100)}"`);
  }

  private async view(row: ScimGroupRow): Promise<GroupView> {
    const memberships = await this.store.listScimMemberships({ groupId: row.id });
    const names = memberships.length === 0 ? new Map<string, string>() : new Map((await this.store.listPrincipals()).map((p) => [p.id, p.name]));
    return { row, members: memberships.map((m) => ({ id: m.principalId, name: names.get(m.principalId) ?? m.principalId })) };
  }
}
