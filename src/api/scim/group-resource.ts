/**
 * The SCIM Group: a displayName, which is the group name principals carry (and roles and policy
 * read), and members, which are SCIM users by id. Nothing else about a group is kept.
 */
import type { ScimGroupRow } from '../../store/types.ts';
import { asObject, canonicalKeys, identifier, iso, readValue, text } from './attributes.ts';
import { scimInvalid } from './errors.ts';
import type { AttrSpec, FilterSchema } from './filter.ts';
import type { PatchRules } from './patch.ts';

export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
/** Members one request may name; Okta and Entra ID send far fewer per call. */
export const MAX_MEMBERS = 10_000;

const memberId = text(256).min(1, 'must not be empty');

export interface GroupInput {
  readonly displayName: string;
  readonly externalId: string | null;
  /** User ids; a PUT without members empties the group, as RFC 7644 replaces have it. */
  readonly members: readonly string[];
}

/**
 * Members as { value } alone: Okta adds `display`, Entra ID `"$ref": null`, and a remove must match
 * a member whichever the provider sent.
 */
export function normaliseMembers(value: unknown): { value: string }[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.length > MAX_MEMBERS) throw scimInvalid('tooMany', `at most ${MAX_MEMBERS} members per request`);
  return items.map((item, i) => {
    const member = canonicalKeys(asObject(item, `members[${i}]`), ['value']);
    return { value: readValue(memberId, member.value, `members[${i}].value`) };
  });
}

export function readGroup(body: unknown): GroupInput {
  const fields = canonicalKeys(asObject(body, 'a Group'), ['displayName', 'externalId', 'members', 'schemas', 'id', 'meta']);
  if (fields.displayName == null) throw scimInvalid('invalidValue', 'displayName is required');
  return {
    displayName: readValue(identifier, fields.displayName, 'displayName'),
    externalId: fields.externalId == null ? null : readValue(text(256), fields.externalId, 'externalId'),
    members: fields.members == null ? [] : [...new Set(normaliseMembers(fields.members).map((m) => m.value))],
  };
}

export function renderGroup(row: ScimGroupRow, members: readonly { id: string; name: string }[] | null, base: string): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: row.id,
    ...(row.externalId !== null ? { externalId: row.externalId } : {}),
    displayName: row.displayName,
    ...(members ? { members: members.map((m) => ({ value: m.id, display: m.name, $ref: `${base}/Users/${m.id}`, type: 'User' })) } : {}),
    meta: { resourceType: 'Group', created: iso(row.createdAt), lastModified: iso(row.updatedAt), location: `${base}/Groups/${row.id}` },
  };
}

export function groupPatchBase(row: ScimGroupRow, memberIds: readonly string[]): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: row.id,
    displayName: row.displayName,
    ...(row.externalId !== null ? { externalId: row.externalId } : {}),
    members: memberIds.map((value) => ({ value })),
    meta: { created: new Date(row.createdAt), lastModified: new Date(row.updatedAt) },
  };
}

const s: AttrSpec = { type: 'string' };

export const GROUP_FILTER: FilterSchema = {
  urn: GROUP_SCHEMA,
  attributes: {
    id: { type: 'string', caseExact: true },
    displayName: s,
    externalId: { type: 'string', caseExact: true },
    members: { type: 'complex', multiValued: true, sub: { value: { type: 'string', caseExact: true } } },
  },
};

export const GROUP_PATCH: PatchRules = {
  urn: GROUP_SCHEMA,
  core: {
    displayName: s,
    externalId: s,
    members: { type: 'complex', multiValued: true, sub: { value: { type: 'string', caseExact: true } } },
  },
  readOnly: ['id', 'meta', 'schemas'],
  ignored: [],
  extensions: {},
  filterRemoveOnly: ['members'],
  normalise: (attribute, value) => (attribute === 'members' ? normaliseMembers(value) : value),
};
