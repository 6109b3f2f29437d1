import { z } from 'zod';
import { NotFound } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { Api, ApiDeps } from './types.ts';
import { errorResponses, revokedIds } from './schemas.ts';

export function registerPrincipalRoutes(api: Api, { store, credentials, coordination }: ApiDeps): void {
  // Offboarding: every credential of the person ends now, and so does everything running with them.
  api.route({
    method: 'POST',
    url: '/principals/:name/revoke',
    schema: {
      tags: ['principals'],
      operationId: 'revokePrincipal',
      summary: 'Revoke every token of a user or service account and end their live sessions',
      params: z.object({ name: z.string().min(1).describe('User or service account name') }),
      response: { 200: z.object({ principal: z.string(), revoked: revokedIds }).describe('Revoked'), ...errorResponses },
    },
    handler: async (request) => {
      const { name } = request.params;
      const principal = (await store.findPrincipal('user', name)) ?? (await store.findPrincipal('service_account', name));
      if (!principal) throw new NotFound(`no user or service account named "${name}"`);
      const revoked = await credentials.revokePrincipal(principal.id);
      await coordination.publish({ type: 'tokens.revoked', tokenIds: revoked, reason: 'revoked' });
      noteAction(request, { details: { principalId: principal.id, kind: principal.kind, revoked } });
      return { principal: principal.name, revoked };
    },
  });
}
