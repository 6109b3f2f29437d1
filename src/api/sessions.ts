import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { verifyChain } from '../audit/hash-chain.ts';
import type { ApiDeps } from './server.ts';
import { parse } from './request.ts';

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  principal: z.string().optional(),
  connection: z.string().optional(),
});

export function registerSessionRoutes(api: FastifyInstance, { store }: ApiDeps): void {
  api.get('/sessions', async (request) => {
    const q = parse(listQuery, request.query);
    return { sessions: await store.listSessions({ limit: q.limit, offset: q.offset, principalName: q.principal, connection: q.connection }) };
  });

  api.get<{ Params: { id: string } }>('/sessions/:id', async (request) => {
    const session = await store.getSession(request.params.id);
    if (!session) throw new GatewayError('not_found', `no session "${request.params.id}"`);
    const interactions = await store.listInteractions(session.id);
    return { session, interactions, chain: verifyChain(interactions) };
  });
}
