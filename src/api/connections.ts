import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.ts';
import { connectionBodySchema } from '../config/schema.ts';
import { viewConnection } from '../connections/registry.ts';
import type { ApiDeps } from './server.ts';
import { parse } from './request.ts';

export function registerConnectionRoutes(api: FastifyInstance, { connections }: ApiDeps): void {
  api.get('/connections', async () => ({ connections: connections.list().map(viewConnection) }));

  api.get<{ Params: { name: string } }>('/connections/:name', async (request) => {
    const connection = connections.get(request.params.name);
    if (!connection) throw new GatewayError('not_found', `no connection "${request.params.name}"`);
    return viewConnection(connection);
  });

  api.put<{ Params: { name: string } }>('/connections/:name', async (request, reply) => {
    const body = parse(connectionBodySchema, request.body);
    const existed = connections.get(request.params.name) !== undefined;
    const connection = await connections.put({ name: request.params.name, ...body });
    return reply.code(existed ? 200 : 201).send(viewConnection(connection));
  });

  api.delete<{ Params: { name: string } }>('/connections/:name', async (request, reply) => {
    await connections.remove(request.params.name);
    return reply.code(204).send();
  });
}
