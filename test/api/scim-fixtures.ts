/**
 * The request bodies Okta and Microsoft Entra ID send to a SCIM 2.0 service provider, written out
 * from their public documentation (Okta: "Okta and SCIM Version 2.0" reference; Microsoft:
 * "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID"), with ids
 * filled in by the test. Shapes are kept as sent: Okta's `password` on create, Entra's capitalised
 * "Replace"/"Add"/"Remove", its `"$ref": null` members and its `"False"` string boolean.
 */
import { ADMIN_TOKEN, startTestGateway, type TestGateway, type TestGatewayOptions } from '../support/gateway.ts';

export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const CUT = 'urn:gatehouse:params:scim:schemas:extension:offboarding:2.0:User';

export const okta = {
  /** GET /Users?filter=userName eq "…"&startIndex=1&count=100: does the user exist? */
  findUser: (userName: string) => `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`,
  createUser: (userName: string, externalId = '00ujl29u0le5T6Aj10h7') => ({
    schemas: [USER],
    userName,
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId,
    groups: [],
    password: '1mz050nq',
    active: true,
  }),
  /** PUT /Users/{id}: Okta sends the whole profile back, id and groups included. */
  updateUser: (id: string, userName: string, familyName: string) => ({
    schemas: [USER],
    id,
    userName,
    name: { givenName: 'Test', familyName },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: `Test ${familyName}`,
    locale: 'en-US',
    externalId: '00ujl29u0le5T6Aj10h7',
    groups: [],
    active: true,
    meta: { resourceType: 'User' },
  }),
  /** Deactivate (unassigned from the app, or the person deactivated in Okta). */
  deactivate: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] },
  reactivate: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] },
  passwordSync: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { password: 'an0ther-passw0rd' } }] },
  findGroup: (displayName: string) => `/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}&startIndex=1&count=100`,
  createGroup: (displayName: string) => ({ schemas: [GROUP], displayName, members: [] }),
  renameGroup: (id: string, displayName: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { id, displayName } }] }),
  addMembers: (members: { id: string; userName: string }[]) => ({
    schemas: [PATCH_OP],
    Operations: [{ op: 'add', path: 'members', value: members.map((m) => ({ value: m.id, display: m.userName })) }],
  }),
  removeMember: (id: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] }),
  replaceMembers: (members: { id: string; userName: string }[]) => ({
    schemas: [PATCH_OP],
    Operations: [{ op: 'replace', path: 'members', value: members.map((m) => ({ value: m.id, display: m.userName })) }],
  }),
};

export const entra = {
  /** "Test Connection" in the Entra admin center: a user that cannot exist must answer an empty list. */
  testConnection: `/Users?filter=${encodeURIComponent('userName eq "5a8b1b2e-0e1f-4c3c-9a1b-5d9a3e1f0b77"')}`,
  findUser: (userName: string) => `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`,
  findByExternalId: (externalId: string) => `/Users?filter=${encodeURIComponent(`externalId eq "${externalId}"`)}`,
  createUser: (userName: string, externalId: string) => ({
    schemas: [USER, ENTERPRISE],
    externalId,
    userName,
    active: true,
    emails: [{ primary: true, type: 'work', value: `${userName.split('@')[0]}@testuser.com` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
  }),
  updateMultiValued: {
    schemas: [PATCH_OP],
    Operations: [
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
      { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    ],
  },
  updateUserName: (userName: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'userName', value: userName }] }),
  addManager: (managerId: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'Add', path: `${ENTERPRISE}:manager`, value: managerId }] }),
  /** Soft delete or unassignment: Entra sends the boolean as a string. */
  disable: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
  enable: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] },
  createGroup: (displayName: string, externalId: string) => ({
    schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
    externalId,
    displayName,
    meta: { resourceType: 'Group' },
  }),
  findGroup: (displayName: string) => `/Groups?excludedAttributes=members&filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`,
  getGroup: (id: string) => `/Groups/${id}?excludedAttributes=members`,
  isMember: (groupId: string, userId: string) =>
    `/Groups?filter=${encodeURIComponent(`id eq "${groupId}" and members[value eq "${userId}"]`)}&excludedAttributes=members`,
  renameGroup: (displayName: string) => ({ schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'displayName', value: displayName }] }),
  addMembers: (ids: string[]) => ({ schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'members', value: ids.map((value) => ({ $ref: null, value })) }] }),
  removeMembers: (ids: string[]) => ({ schemas: [PATCH_OP], Operations: [{ op: 'Remove', path: 'members', value: ids.map((value) => ({ $ref: null, value })) }] }),
};

export interface ScimReply {
  readonly status: number;
  readonly type: string | null;
  readonly headers: Headers;
  readonly json: any;
}

export interface ScimGateway {
  readonly t: TestGateway;
  /** The gsc_ token the tests' identity provider holds. */
  readonly token: string;
  readonly tokenId: string;
  /** A SCIM request with the SCIM token (or `auth`), the body sent as application/scim+json unless `type` says otherwise. */
  scim(method: string, path: string, body?: unknown, options?: { auth?: string | null; type?: string; raw?: string }): Promise<ScimReply>;
  close(): Promise<void>;
}

export async function scimRequest(base: string, method: string, path: string, body: unknown, options: { auth?: string | null; type?: string; raw?: string } = {}): Promise<ScimReply> {
  const payload = options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${base}/scim/v2${path}`, {
    method,
    headers: {
      ...(options.auth ? { authorization: `Bearer ${options.auth}` } : {}),
      ...(payload === undefined ? {} : { 'content-type': options.type ?? 'application/scim+json' }),
    },
    body: payload,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), headers: response.headers, json: text ? JSON.parse(text) : null };
}

export async function startScimGateway(options: TestGatewayOptions = {}): Promise<ScimGateway> {
  const t = await startTestGateway(options);
  // The admin URL: with admin.listen set, the admin API is not on the data-plane listener.
  const response = await fetch(`${t.gateway.adminUrl}/api/v1/scim/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'okta' }),
  });
  const issued = { status: response.status, json: (await response.json()) as any };
  if (issued.status !== 201) throw new Error(`SCIM token: ${issued.status} ${JSON.stringify(issued.json)}`);
  const token = issued.json.token as string;
  return {
    t,
    token,
    tokenId: issued.json.id,
    scim: (method, path, body, opts = {}) => scimRequest(t.gateway.adminUrl, method, path, body, { ...opts, auth: opts.auth === undefined ? token : opts.auth }),
    close: () => t.close(),
  };
}

export { ADMIN_TOKEN };
