/**
 * The SCIM User as Gatehouse keeps it: userName is the user principal's name, active says whether
 * the person may sign in, and the other attributes (name, emails …) are kept as sent and grant
 * nothing. Groups come from group membership only (read-only here, as RFC 7643 has it).
 */
import { z } from 'zod';
import type { PrincipalRow, ScimGroupRow, ScimUserRow } from '../../store/types.ts';
import { asObject, canonicalKeys, identifier, iso, readValue, scimBoolean, text } from './attributes.ts';
import { scimInvalid } from './errors.ts';
import type { AttrSpec, FilterSchema } from './filter.ts';
import type { PatchRules } from './patch.ts';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
/** Added to the answer of a request that disabled the person: what it cut. */
export const CUT_SCHEMA = 'urn:gatehouse:params:scim:schemas:extension:offboarding:2.0:User';

const multiValued = z.array(z.object({ value: text().optional(), type: text(64).optional(), primary: scimBoolean.optional(), display: text().optional() })).max(20);

const attributesSchema = z
  .object({
    name: z
      .object({ formatted: text(), familyName: text(), givenName: text(), middleName: text(), honorificPrefix: text(), honorificSuffix: text() })
      .partial(),
    displayName: text(),
    nickName: text(),
    profileUrl: text(),
    title: text(),
    userType: text(),
    preferredLanguage: text(64),
    locale: text(64),
    timezone: text(64),
    emails: multiValued,
    phoneNumbers: multiValued,
    addresses: z
      .array(
        z
          .object({ formatted: text(), streetAddress: text(), locality: text(), region: text(), postalCode: text(64), country: text(64), type: text(64), primary: scimBoolean })
          .partial(),
      )
      .max(10),
    [ENTERPRISE_SCHEMA]: z
      .object({
        employeeNumber: text(),
        costCenter: text(),
        organization: text(),
        division: text(),
        department: text(),
        // Entra ID sends the manager's id as a bare string.
        manager: z.union([text().transform((value) => ({ value })), z.object({ value: text(), displayName: text() }).partial()]),
      })
      .partial(),
  })
  .partial();

export type UserAttributes = z.output<typeof attributesSchema>;

const ATTRIBUTE_NAMES = Object.keys(attributesSchema.shape);
/** Read-only or never kept: accepted in a body and ignored (a password is never stored). */
const IGNORED = ['schemas', 'id', 'meta', 'groups', 'password'];
const TOP_LEVEL = ['userName', 'active', 'externalId', ...ATTRIBUTE_NAMES, ...IGNORED];

export interface UserInput {
  readonly userName: string;
  /** Absent: leave as it is. */
  readonly active: boolean | undefined;
  readonly externalId: string | null;
  readonly attributes: UserAttributes;
}

/** A POST or PUT body, or a patched resource: unknown attributes are dropped, known ones checked. */
export function readUser(body: unknown): UserInput {
  const fields = canonicalKeys(asObject(body, 'a User'), TOP_LEVEL);
  if (fields.userName == null) throw scimInvalid('invalidValue', 'userName is required');
  const attributes = Object.fromEntries(ATTRIBUTE_NAMES.filter((n) => fields[n] !== undefined && fields[n] !== null).map((n) => [n, fields[n]]));
  return {
    userName: readValue(identifier, fields.userName, 'userName'),
    active: fields.active === undefined ? undefined : readValue(scimBoolean, fields.active, 'active'),
    externalId: fields.externalId == null ? null : readValue(text(256), fields.externalId, 'externalId'),
    attributes: readValue(attributesSchema, attributes, ''),
  };
}

export interface UserView {
  readonly principal: PrincipalRow;
  readonly scim: ScimUserRow;
  readonly groups: readonly ScimGroupRow[];
}

export interface Cut {
  readonly revokedTokens: readonly string[];
  readonly disabledServiceAccounts: readonly string[];
}

export function renderUser(view: UserView, base: string, cut?: Cut): Record<string, unknown> {
  const { principal, scim } = view;
  const { [ENTERPRISE_SCHEMA]: enterprise, ...core } = scim.attributes as UserAttributes;
  return {
    schemas: [USER_SCHEMA, ...(enterprise ? [ENTERPRISE_SCHEMA] : []), ...(cut ? [CUT_SCHEMA] : [])],
    id: principal.id,
    ...(scim.externalId !== null ? { externalId: scim.externalId } : {}),
    userName: principal.name,
    ...core,
    active: principal.disabledAt === null,
    groups: view.groups.map((g) => ({ value: g.id, display: g.displayName, $ref: `${base}/Groups/${g.id}`, type: 'direct' })),
    ...(enterprise ? { [ENTERPRISE_SCHEMA]: enterprise } : {}),
    ...(cut ? { [CUT_SCHEMA]: { revokedTokens: cut.revokedTokens, disabledServiceAccounts: cut.disabledServiceAccounts } } : {}),
    meta: { resourceType: 'User', created: iso(scim.createdAt), lastModified: iso(scim.updatedAt), location: `${base}/Users/${principal.id}` },
  };
}

/** What a PATCH applies to: the provider's own view (its last `active`), which readUser reads back. */
export function patchBase(row: ScimUserRow): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA],
    id: row.principalId,
    userName: row.userName,
    active: row.active,
    ...(row.externalId !== null ? { externalId: row.externalId } : {}),
    ...structuredClone(row.attributes),
    meta: { created: new Date(row.createdAt), lastModified: new Date(row.updatedAt) },
  };
}

const s: AttrSpec = { type: 'string' };
const multiSub = { value: s, type: s, display: s, primary: { type: 'boolean' } } as const satisfies Record<string, AttrSpec>;

/** What a filter may name on Users. */
export const USER_FILTER: FilterSchema = {
  urn: USER_SCHEMA,
  attributes: {
    id: { type: 'string', caseExact: true },
    userName: s,
    externalId: { type: 'string', caseExact: true },
    displayName: s,
    active: { type: 'boolean' },
    name: { type: 'complex', sub: { givenName: s, familyName: s, formatted: s } },
    emails: { type: 'complex', multiValued: true, sub: multiSub },
  },
};

/** What a PATCH path may name on Users, core and enterprise; anything else is invalidPath. */
export const USER_PATCH = {
  core: {
    userName: s,
    active: { type: 'boolean' },
    externalId: s,
    displayName: s,
    nickName: s,
    profileUrl: s,
    title: s,
    userType: s,
    preferredLanguage: s,
    locale: s,
    timezone: s,
    name: { type: 'complex', sub: { formatted: s, familyName: s, givenName: s, middleName: s, honorificPrefix: s, honorificSuffix: s } },
    emails: { type: 'complex', multiValued: true, sub: multiSub },
    phoneNumbers: { type: 'complex', multiValued: true, sub: multiSub },
    addresses: {
      type: 'complex',
      multiValued: true,
      sub: { formatted: s, streetAddress: s, locality: s, region: s, postalCode: s, country: s, type: s, primary: { type: 'boolean' } },
    },
  },
  readOnly: ['id', 'meta', 'groups', 'schemas'],
  ignored: ['password'],
  extensions: {
    [ENTERPRISE_SCHEMA]: {
      employeeNumber: s,
      costCenter: s,
      organization: s,
      division: s,
      department: s,
      manager: { type: 'complex', sub: { value: s, displayName: s } },
    },
  },
  urn: USER_SCHEMA,
} as const satisfies PatchRules;
