/**
 * RFC 7643 §5–7 discovery: what this service provider supports, and the resource types and
 * schemas it serves, minimal (only the attributes Gatehouse keeps are described).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { scimNotFound } from './errors.ts';
import { GROUP_SCHEMA } from './group-resource.ts';
import { listResponse, MAX_RESULTS } from './paging.ts';
import { baseUrl, sendScim } from './reply.ts';
import { CUT_SCHEMA, ENTERPRISE_SCHEMA, USER_SCHEMA } from './user-resource.ts';
import { MAX_OPERATIONS } from './patch.ts';

const CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

const attr = (name: string, type: string, extra: Record<string, unknown> = {}) => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...extra,
});

const multi = (name: string) =>
  attr(name, 'complex', { multiValued: true, subAttributes: [attr('value', 'string'), attr('type', 'string'), attr('primary', 'boolean')] });

const SCHEMAS = [
  {
    id: USER_SCHEMA,
    name: 'User',
    description: 'A person; userName is their Gatehouse user name, active false offboards them',
    attributes: [
      attr('userName', 'string', { required: true, uniqueness: 'server' }),
      attr('active', 'boolean'),
      attr('displayName', 'string'),
      attr('name', 'complex', { subAttributes: ['formatted', 'familyName', 'givenName'].map((n) => attr(n, 'string')) }),
      multi('emails'),
      multi('phoneNumbers'),
      attr('groups', 'complex', { multiValued: true, mutability: 'readOnly', subAttributes: [attr('value', 'string'), attr('display', 'string')] }),
    ],
  },
  {
    id: GROUP_SCHEMA,
    name: 'Group',
    description: 'A group; its displayName is a group name roles and policy read',
    attributes: [
      attr('displayName', 'string', { required: true, uniqueness: 'server' }),
      attr('members', 'complex', { multiValued: true, subAttributes: [attr('value', 'string', { caseExact: true }), attr('display', 'string', { mutability: 'readOnly' })] }),
    ],
  },
  {
    id: ENTERPRISE_SCHEMA,
    name: 'EnterpriseUser',
    description: 'Kept as sent; grants nothing',
    attributes: ['employeeNumber', 'costCenter', 'organization', 'division', 'department'].map((n) => attr(n, 'string')),
  },
  {
    id: CUT_SCHEMA,
    name: 'Offboarding',
    description: 'In the answer to a request that disabled the person: the tokens revoked and the service accounts disabled',
    attributes: [
      attr('revokedTokens', 'string', { multiValued: true, mutability: 'readOnly' }),
      attr('disabledServiceAccounts', 'string', { multiValued: true, mutability: 'readOnly' }),
    ],
  },
];

function resourceTypes(base: string) {
  return [
    { schemas: [RESOURCE_TYPE_SCHEMA], id: 'User', name: 'User', endpoint: '/Users', schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }, { schema: CUT_SCHEMA, required: false }], meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` } },
    { schemas: [RESOURCE_TYPE_SCHEMA], id: 'Group', name: 'Group', endpoint: '/Groups', schema: GROUP_SCHEMA, meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` } },
  ];
}

const schemaResource = (schema: (typeof SCHEMAS)[number], base: string) => ({
  schemas: [SCHEMA_SCHEMA],
  ...schema,
  meta: { resourceType: 'Schema', location: `${base}/Schemas/${schema.id}` },
});

export function registerScimDiscovery(scope: FastifyInstance): void {
  const all = { startIndex: 1, count: MAX_RESULTS };

  scope.get('/ServiceProviderConfig', { schema: { operationId: 'scimServiceProviderConfig' } }, async (request: FastifyRequest, reply) =>
    sendScim(reply, 200, {
      schemas: [CONFIG_SCHEMA],
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: MAX_RESULTS },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: false },
      authenticationSchemes: [
        { type: 'oauthbearertoken', name: 'Bearer token', description: `A gsc_ token from \`gatehouse scim token create\`; at most ${MAX_OPERATIONS} PATCH operations per request`, primary: true },
      ],
      meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl(request)}/ServiceProviderConfig` },
    }),
  );

  scope.get('/ResourceTypes', { schema: { operationId: 'scimResourceTypes' } }, async (request, reply) =>
    sendScim(reply, 200, listResponse(resourceTypes(baseUrl(request)), all, (r) => r)),
  );

  scope.get('/ResourceTypes/*', { schema: { operationId: 'scimResourceType' } }, async (request, reply) => {
    const id = (request.params as { '*': string })['*'];
    const found = resourceTypes(baseUrl(request)).find((r) => r.id === id);
    if (!found) throw scimNotFound('ResourceType', id);
    return sendScim(reply, 200, found);
  });

  scope.get('/Schemas', { schema: { operationId: 'scimSchemas' } }, async (request, reply) =>
    sendScim(reply, 200, listResponse(SCHEMAS, all, (s) => schemaResource(s, baseUrl(request)))),
  );

  scope.get('/Schemas/*', { schema: { operationId: 'scimSchema' } }, async (request, reply) => {
    const id = (request.params as { '*': string })['*'];
    const found = SCHEMAS.find((s) => s.id === id);
    if (!found) throw scimNotFound('Schema', id);
    return sendScim(reply, 200, schemaResource(found, baseUrl(request)));
  });
}
