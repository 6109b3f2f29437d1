import { z } from 'zod';
import { ROLES } from '../identity/roles.ts';
import type { Api, ApiDeps } from './types.ts';
import { errorResponses, principalView } from './schemas.ts';

export function registerMetaRoutes(api: Api, _deps: ApiDeps): void {
  api.route({
    method: 'GET',
    url: '/whoami',
    schema: {
      tags: ['meta'],
      operationId: 'whoami',
      summary: 'The principal and token this request authenticated as',
      response: {
        200: z
          .object({ principal: principalView, tokenId: z.string(), roles: z.array(z.enum(ROLES)).describe('Roles its groups hold now (identity.roles)') })
          .describe('The caller'),
        ...errorResponses,
      },
    },
    config: { allow: ['approver', 'auditor', 'user'] },
    handler: async (request) => {
      const { auth, roles } = request.caller!;
      const { principal, credential } = auth;
      return { principal: { ...principal, groups: [...principal.groups] }, tokenId: credential.tokenId, roles: [...roles] };
    },
  });
}
