import { z } from 'zod';
import { noteAction } from '../../audit/admin-actions.ts';
import type { TokenRow } from '../../store/types.ts';
import type { Api, ApiDeps } from '../types.ts';
import { durationField } from '../request.ts';
import { epochMs, errorResponses } from '../schemas.ts';

const scimTokenView = z
  .object({
    id: z.string(),
    name: z.string().describe('Which identity provider holds it, e.g. okta'),
    createdAt: epochMs,
    expiresAt: epochMs.nullable(),
    revokedAt: epochMs.nullable(),
  })
  .meta({ id: 'ScimToken' });

const viewScimToken = (row: TokenRow): z.output<typeof scimTokenView> => ({
  id: row.id,
  name: row.name,
  createdAt: row.createdAt,
  expiresAt: row.expiresAt,
  revokedAt: row.revokedAt,
});

/**
 * The bearer token an identity provider's SCIM client sends to /scim/v2. It belongs to the admin
 * who created it, so offboarding that admin revokes it too; DELETE /api/v1/tokens/{id} revokes it.
 */
export function registerScimTokenRoutes(api: Api, deps: ApiDeps): void {
  api.route({
    method: 'POST',
    url: '/scim/tokens',
    schema: {
      tags: ['tokens'],
      operationId: 'createScimToken',
      summary: 'Issue the gsc_ bearer token an identity provider (Okta, Entra ID) uses for SCIM provisioning',
      body: z
        .object({
          name: z.string().min(1).max(200).default('scim').describe('A label, e.g. the identity provider'),
          expires: durationField.optional().describe('Lifetime, e.g. 365d; without it the token lasts until revoked'),
        })
        .strict(),
      response: {
        201: scimTokenView.extend({ token: z.string().describe('The gsc_ secret: shown once, only its hash is kept') }).describe('Issued'),
        ...errorResponses,
      },
    },
    handler: async (request, reply) => {
      const caller = request.caller!;
      const { secret, token } = await deps.credentials.issue({
        principal: caller.auth.principal,
        kind: 'scim',
        name: request.body.name,
        connections: null,
        ttlMs: request.body.expires ?? null,
      });
      noteAction(request, { target: token.id, details: { name: token.name, expiresAt: token.expiresAt } });
      return reply.code(201).send({ token: secret, ...viewScimToken(token) });
    },
  });

  api.route({
    method: 'GET',
    url: '/scim/tokens',
    schema: {
      tags: ['tokens'],
      operationId: 'listScimTokens',
      summary: 'SCIM tokens; with all=true also revoked and expired ones',
      querystring: z.object({ all: z.enum(['true', 'false']).default('false') }).strict(),
      response: { 200: z.object({ tokens: z.array(scimTokenView) }).describe('The SCIM tokens'), ...errorResponses },
    },
    handler: async (request) => {
      const all = request.query.all === 'true';
      const rows = await deps.store.listTokens({ includeRevoked: all, includeExpired: all, now: Date.now() });
      return { tokens: rows.filter((row) => row.kind === 'scim').map(viewScimToken) };
    },
  });
}
