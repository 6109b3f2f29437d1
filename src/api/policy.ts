import { z } from 'zod';
import type { Api, ApiDeps } from './types.ts';
import { errorResponses } from './schemas.ts';

export function registerPolicyRoutes(api: Api, { coordination }: ApiDeps): void {
  // Every replica re-reads its own files: a reload asked of one reaches all of them, within a poll.
  api.route({
    method: 'POST',
    url: '/policy/reload',
    schema: {
      tags: ['policy'],
      operationId: 'reloadPolicy',
      summary: 'Ask every replica to re-read its config file and policy folder',
      description:
        'Answers once the request is stored; each replica then reloads as on SIGHUP. A replica whose new files are invalid keeps its previous policy and logs why.',
      response: { 202: z.object({ requested: z.literal(true) }).describe('Every replica will reload'), ...errorResponses },
    },
    handler: async (request, reply) => {
      await coordination.publish({ type: 'policy.reload', requestedBy: request.caller?.auth.principal.name ?? 'unknown' });
      return reply.code(202).send({ requested: true as const });
    },
  });
}
