import { z } from 'zod';
import { NotFound } from '../errors.ts';
import { CONNECTION_NAME, CONNECTION_TYPES, connectionBodySchema } from '../config/schema.ts';
import { viewConnection, type Connection, type ConnectionView } from '../connections/registry.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { Api, ApiDeps } from './types.ts';
import { errorResponses } from './schemas.ts';

const connectionView = z
  .object({
    name: z.string(),
    type: z.enum(CONNECTION_TYPES),
    upstream: z.string(),
    tags: z.array(z.string()),
    hasCredential: z.boolean().describe('Whether the gateway holds a credential for the upstream; the credential itself is never shown'),
    source: z.enum(['config', 'api']).describe('config: defined in gatehouse.yaml (read-only here); api: added through this API'),
  } satisfies Record<keyof ConnectionView, z.ZodType>)
  .meta({ id: 'Connection' });

const byName = z.object({
  name: z.string().regex(CONNECTION_NAME, 'lower-case letters, digits, ".", "_" or "-", at most 63 characters').describe('Connection name'),
});

const connectionBody = connectionBodySchema.describe(
  'The connection without its name. `credential` is a bearer token string or { type: bearer|header|basic, … }; ' +
    'it is sealed under the master key, and leaving it out of an update keeps the stored one.',
);

// The registry's views are frozen; the reply type wants plain arrays.
const view = (c: Connection) => ({ ...viewConnection(c), tags: [...c.tags] });

export function registerConnectionRoutes(api: Api, { connections, coordination }: ApiDeps): void {
  api.route({
    method: 'GET',
    url: '/connections',
    schema: {
      tags: ['connections'],
      operationId: 'listConnections',
      summary: 'Every connection, from the config file and from this API, by name',
      response: { 200: z.object({ connections: z.array(connectionView) }).describe('The connections'), ...errorResponses },
    },
    config: { allow: ['approver'] },
    handler: async () => ({ connections: connections.list().map(view) }),
  });

  api.route({
    method: 'GET',
    url: '/connections/:name',
    schema: {
      tags: ['connections'],
      operationId: 'getConnection',
      summary: 'One connection',
      params: byName,
      response: { 200: connectionView.describe('The connection'), ...errorResponses },
    },
    config: { allow: ['approver'] },
    handler: async (request) => {
      const connection = connections.get(request.params.name);
      if (!connection) throw new NotFound(`no connection "${request.params.name}"`);
      return view(connection);
    },
  });

  api.route({
    method: 'PUT',
    url: '/connections/:name',
    schema: {
      tags: ['connections'],
      operationId: 'putConnection',
      summary: 'Create or replace a connection defined through the API',
      description: 'Answers 201 when the connection is new, 200 when it replaced one; a connection from the config file is a 409.',
      params: byName,
      body: connectionBody,
      response: { 200: connectionView.describe('Replaced'), 201: connectionView.describe('Created'), ...errorResponses },
    },
    handler: async (request, reply) => {
      const existed = connections.get(request.params.name) !== undefined;
      // The upstream is left out: a URL may carry a password (postgres://user:pw@…).
      noteAction(request, { details: { type: request.body.type, replaced: existed, credentialSent: request.body.credential !== undefined } });
      const connection = await connections.put({ name: request.params.name, ...request.body });
      await coordination.publish({ type: 'connections.changed', name: connection.name });
      return reply.code(existed ? 200 : 201).send(view(connection));
    },
  });

  api.route({
    method: 'DELETE',
    url: '/connections/:name',
    schema: {
      tags: ['connections'],
      operationId: 'deleteConnection',
      summary: 'Remove a connection defined through the API',
      params: byName,
      response: { 204: z.undefined().describe('Removed'), ...errorResponses },
    },
    handler: async (request, reply) => {
      await connections.remove(request.params.name);
      await coordination.publish({ type: 'connections.changed', name: request.params.name });
      return reply.code(204).send();
    },
  });
}
