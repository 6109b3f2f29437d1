import { z } from 'zod';
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
      response: { 200: z.object({ principal: principalView, tokenId: z.string() }).describe('The caller'), ...errorResponses },
    },
    handler: async (request) => {
      const { principal, credential } = request.admin!;
      return { principal: { ...principal, groups: [...principal.groups] }, tokenId: credential.tokenId };
    },
  });
}
