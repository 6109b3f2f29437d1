import { z } from 'zod';
import { InvalidArgument } from '../errors.ts';
import type { ServiceAccountRow } from '../store/types.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { Api, ApiDeps } from './types.ts';
import { durationField } from './request.ts';
import { epochMs, errorResponses, revokedIds } from './schemas.ts';

const createServiceAccount = z
  .object({
    name: z.string().min(1),
    owner: z
      .string()
      .min(1)
      .describe('The person accountable for it: a user (or the admin identity) by name, in any case, or by id; offboarding them disables the account'),
    connections: z.array(z.string().min(1)).min(1, 'name at least one connection').describe('Connections it may reach'),
    groups: z.array(z.string().min(1)).default([]).describe('Groups for policy'),
    expires: durationField.describe('Lifetime, e.g. 30d: mandatory, capped by config'),
  })
  .strict();

const serviceAccountView = z
  .object({
    id: z.string(),
    name: z.string(),
    owner: z.string().describe("The owner's name"),
    ownerId: z.string().nullable().describe("The owner's principal id; null on accounts created before owners were resolved (matched by name)"),
    connections: z.array(z.string()),
    createdAt: epochMs,
    expiresAt: epochMs,
    disabledAt: epochMs.nullable(),
    agentId: z.string().nullable().optional().describe('The agent the account is (gatehouse agents list)'),
  } satisfies Record<keyof ServiceAccountRow, z.ZodType>)
  .meta({ id: 'ServiceAccount' });

export function registerServiceAccountRoutes(api: Api, { serviceAccounts, connections, coordination }: ApiDeps): void {
  api.route({
    method: 'POST',
    url: '/service-accounts',
    schema: {
      tags: ['service-accounts'],
      operationId: 'createServiceAccount',
      summary: 'Create a service account; its gts_ secret is in this answer only',
      body: createServiceAccount,
      response: {
        201: serviceAccountView.extend({ secret: z.string().describe('The gts_ secret: shown once, only its hash is kept') }).describe('Created'),
        ...errorResponses,
      },
    },
    handler: async (request, reply) => {
      const body = request.body;
      const missing = body.connections.filter((name) => !connections.get(name));
      if (missing.length > 0) throw new InvalidArgument(`unknown connection(s): ${missing.join(', ')}`);
      noteAction(request, { target: body.name });
      const { account, secret } = await serviceAccounts.create({ ...body, expiresInMs: body.expires });
      noteAction(request, { details: { id: account.id, owner: account.owner, ownerId: account.ownerId, connections: account.connections, expiresAt: account.expiresAt } });
      return reply.code(201).send({ secret, ...account, ownerId: account.ownerId ?? null });
    },
  });

  api.route({
    method: 'GET',
    url: '/service-accounts',
    schema: {
      tags: ['service-accounts'],
      operationId: 'listServiceAccounts',
      summary: 'Every service account, disabled ones included',
      response: { 200: z.object({ serviceAccounts: z.array(serviceAccountView) }).describe('The service accounts'), ...errorResponses },
    },
    handler: async () => ({ serviceAccounts: (await serviceAccounts.list()).map((account) => ({ ...account, ownerId: account.ownerId ?? null })) }),
  });

  api.route({
    method: 'DELETE',
    url: '/service-accounts/:name',
    schema: {
      tags: ['service-accounts'],
      operationId: 'disableServiceAccount',
      summary: 'Disable a service account and revoke its secret and every token bought with it',
      params: z.object({ name: z.string().min(1).describe('Name or id') }),
      response: { 200: z.object({ disabled: z.string().describe('The account id'), revoked: revokedIds }).describe('Disabled'), ...errorResponses },
    },
    handler: async (request) => {
      const { account, revoked } = await serviceAccounts.disable(request.params.name);
      await coordination.publish({ type: 'tokens.revoked', tokenIds: revoked, reason: 'revoked' });
      noteAction(request, { details: { id: account.id, revoked } });
      return { disabled: account.id, revoked };
    },
  });
}
