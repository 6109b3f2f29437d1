import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { checkConnectionShape, CONNECTION_TYPES, credentialSchema } from '../config/schema.ts';
import { viewConnection } from '../config/connection-registry.ts';
import type { ApiDeps } from './server.ts';
import { parse } from './request.ts';

const connectionBody = z
  .object({
    type: z.enum(CONNECTION_TYPES),
    upstream: z.url({ error: 'expected a URL' }),
    credential: credentialSchema.optional(),
    tags: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .superRefine(checkConnectionShape);

export function registerConnectionRoutes(api: FastifyInstance, { connections }: ApiDeps): void {
  api.get('/connections', async () => ({ connections: connections.list().map(viewConnection) }));

  api.get<{ Params: { name: string } }>('/connections/:name', async (request) => {
    const connection = connections.get(request.params.name);
    if (!connection) throw new GatewayError('not_found', `no connection "${request.params.name}"`);
    return viewConnection(connection);
  });

  api.put<{ Params: { name: string } }>('/connections/:name', async (request, reply) => {
    const body = parse(connectionBody, request.body);
    const existed = connections.get(request.params.name) !== undefined;
    const connection = await connections.put({ name: request.params.name, ...body });
    return reply.code(existed ? 200 : 201).send(viewConnection(connection));
  });

  api.delete<{ Params: { name: string } }>('/connections/:name', async (request, reply) => {
    await connections.remove(request.params.name);
    return reply.code(204).send();
  });
}
