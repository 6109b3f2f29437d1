/**
 * SQL and row mapping for the SCIM tables (migration 7). The *_key columns hold a JavaScript
 * toLowerCase() of the name, computed here rather than with SQL LOWER(), which SQLite applies to
 * ASCII only: both engines then agree on which names collide.
 */
import type { SqlValue } from './rows.ts';
import type { ScimGroupRow, ScimMembership, ScimUserRow } from './types.ts';

type DbRecord = Record<string, unknown>;

const USER_COLUMNS = 'principal_id, user_name, user_name_key, external_id, active, attributes_json, created_at, updated_at';
const GROUP_COLUMNS = 'id, display_name, display_key, external_id, created_at, updated_at';

export const SCIM_SQL = {
  disablePrincipal: 'UPDATE principals SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?',
  enablePrincipal: 'UPDATE principals SET disabled_at = NULL WHERE id = ?',
  setPrincipalGroups: 'UPDATE principals SET groups_json = ? WHERE id = ?',
  renamePrincipal: 'UPDATE principals SET name = ? WHERE id = ?',
  setServiceAccountOwner: 'UPDATE service_accounts SET owner = ? WHERE id = ?',

  insertUser: `INSERT INTO scim_users (${USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  getUser: `SELECT ${USER_COLUMNS} FROM scim_users WHERE principal_id = ?`,
  findUserByName: `SELECT ${USER_COLUMNS} FROM scim_users WHERE user_name_key = ?`,
  listUsers: `SELECT ${USER_COLUMNS} FROM scim_users ORDER BY created_at, principal_id`,
  updateUser: `UPDATE scim_users SET user_name = ?, user_name_key = ?, external_id = ?, active = ?, attributes_json = ?, updated_at = ?
    WHERE principal_id = ?`,
  deleteUserMemberships: 'DELETE FROM scim_group_members WHERE principal_id = ?',
  deleteUser: 'DELETE FROM scim_users WHERE principal_id = ?',

  insertGroup: `INSERT INTO scim_groups (${GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
  getGroup: `SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE id = ?`,
  findGroupByName: `SELECT ${GROUP_COLUMNS} FROM scim_groups WHERE display_key = ?`,
  listGroups: `SELECT ${GROUP_COLUMNS} FROM scim_groups ORDER BY created_at, id`,
  updateGroup: 'UPDATE scim_groups SET display_name = ?, display_key = ?, external_id = ?, updated_at = ? WHERE id = ?',
  deleteGroupMembers: 'DELETE FROM scim_group_members WHERE group_id = ?',
  deleteGroup: 'DELETE FROM scim_groups WHERE id = ?',
  addMember: 'INSERT INTO scim_group_members (group_id, principal_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
  removeMember: 'DELETE FROM scim_group_members WHERE group_id = ? AND principal_id = ?',
  membersOfGroup: 'SELECT group_id, principal_id FROM scim_group_members WHERE group_id = ? ORDER BY principal_id',
  membershipsOfPrincipal: 'SELECT group_id, principal_id FROM scim_group_members WHERE principal_id = ? ORDER BY group_id',
  allMemberships: 'SELECT group_id, principal_id FROM scim_group_members ORDER BY group_id, principal_id',
} as const;

export const nameKey = (name: string): string => name.toLowerCase();

export function scimUserParams(r: ScimUserRow): SqlValue[] {
  return [r.principalId, r.userName, nameKey(r.userName), r.externalId, r.active ? 1 : 0, JSON.stringify(r.attributes), r.createdAt, r.updatedAt];
}

export function scimUserUpdateParams(r: ScimUserRow): SqlValue[] {
  return [r.userName, nameKey(r.userName), r.externalId, r.active ? 1 : 0, JSON.stringify(r.attributes), r.updatedAt, r.principalId];
}

export function toScimUser(r: DbRecord): ScimUserRow {
  return {
    principalId: r.principal_id as string,
    userName: r.user_name as string,
    externalId: (r.external_id as string | null) ?? null,
    active: Number(r.active) === 1,
    attributes: JSON.parse(r.attributes_json as string) as Record<string, unknown>,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function scimGroupParams(r: ScimGroupRow): SqlValue[] {
  return [r.id, r.displayName, nameKey(r.displayName), r.externalId, r.createdAt, r.updatedAt];
}

export function scimGroupUpdateParams(r: ScimGroupRow): SqlValue[] {
  return [r.displayName, nameKey(r.displayName), r.externalId, r.updatedAt, r.id];
}

export function toScimGroup(r: DbRecord): ScimGroupRow {
  return {
    id: r.id as string,
    displayName: r.display_name as string,
    externalId: (r.external_id as string | null) ?? null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toMembership(r: DbRecord): ScimMembership {
  return { groupId: r.group_id as string, principalId: r.principal_id as string };
}
