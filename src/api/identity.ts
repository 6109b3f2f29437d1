import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import type { PrincipalRow, ServiceAccountRow, TokenRow } from '../store/types.ts';
import { toPrincipal } from '../identity/credentials.ts';
import { newId } from '../identity/token-format.ts';
import type { ApiDeps } from './server.ts';
import { bearerOf, durationField, parse } from './request.ts';

const names = z.array(z.string().min(1)).min(1, 'name at least one connection');

const createToken = z
  .object({
    name: z.string().min(1).max(200).default('agent token'),
    connections: names,
    ttl: durationField.optional(),
    /** Issue for a user instead of the caller (admins only); the user is created on first use. */
    for: z.object({ user: z.string().min(1).max(200), groups: z.array(z.string().min(1)).default([]) }).strict().optional(),
  })
  .strict();

const createServiceAccount = z
  .object({
    name: z.string().min(1),
    owner: z.string().min(1),
    connections: names,
    groups: z.array(z.string().min(1)).default([]),
    expires: durationField,
  })
  .strict();

const exchange = z
  .object({ ttl: durationField.optional(), connections: z.array(z.string().min(1)).optional(), name: z.string().min(1).max(200).optional() })
  .strict();

/** What the API shows of a token: never its hash. */
function viewToken(row: TokenRow, principalName: string) {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    principal: principalName,
    connections: row.connections,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    parentId: row.parentId,
  };
}

function viewServiceAccount(row: ServiceAccountRow) {
  return { ...row };
}

export function registerIdentityRoutes(api: FastifyInstance, deps: ApiDeps): void {
  const { store, credentials, serviceAccounts, watch, connections } = deps;

  const requireConnections = (wanted: readonly string[]) => {
    const missing = wanted.filter((name) => !connections.get(name));
    if (missing.length > 0) throw new GatewayError('invalid_argument', `unknown connection(s): ${missing.join(', ')}`);
  };

  const userPrincipal = async (name: string, groups: readonly string[]): Promise<Principal> => {
    const found = await store.findPrincipal('user', name);
    if (found) return toPrincipal(found);
    const row: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [...groups], createdAt: Date.now(), disabledAt: null };
    await store.insertPrincipal(row);
    return toPrincipal(row);
  };

  api.post('/tokens', async (request, reply) => {
    const body = parse(createToken, request.body);
    requireConnections(body.connections);
    const principal = body.for ? await userPrincipal(body.for.user, body.for.groups) : request.admin!.principal;
    const ttlMs = credentials.resolveTtl(body.ttl, principal.groups);
    const { secret, token } = await credentials.issue({ principal, kind: 'agent', name: body.name, connections: body.connections, ttlMs });
    return reply.code(201).send({ token: secret, ...viewToken(token, principal.name) });
  });

  api.get<{ Querystring: { all?: string } }>('/tokens', async (request) => {
    const all = request.query.all === 'true';
    const [rows, principals] = await Promise.all([
      store.listTokens({ includeRevoked: all, includeExpired: all, now: Date.now() }),
      store.listPrincipals(),
    ]);
    const names = new Map(principals.map((p) => [p.id, p.name]));
    return { tokens: rows.map((row) => viewToken(row, names.get(row.principalId) ?? row.principalId)) };
  });

  api.delete<{ Params: { id: string } }>('/tokens/:id', async (request) => {
    const token = await store.getToken(request.params.id);
    if (!token) throw new GatewayError('not_found', `no token "${request.params.id}"`);
    const revoked = await credentials.revoke(token.id);
    watch.revoked(revoked);
    return { revoked };
  });

  api.post('/service-accounts', async (request, reply) => {
    const body = parse(createServiceAccount, request.body);
    requireConnections(body.connections);
    const { account, secret } = await serviceAccounts.create({ ...body, expiresInMs: body.expires });
    return reply.code(201).send({ secret, ...viewServiceAccount(account) });
  });

  api.get('/service-accounts', async () => ({ serviceAccounts: (await serviceAccounts.list()).map(viewServiceAccount) }));

  api.delete<{ Params: { name: string } }>('/service-accounts/:name', async (request) => {
    const { account, revoked } = await serviceAccounts.disable(request.params.name);
    watch.revoked(revoked);
    return { disabled: account.id, revoked };
  });

  // Offboarding: every credential of the person ends now, and so does everything running with them.
  api.post<{ Params: { name: string } }>('/principals/:name/revoke', async (request) => {
    const principal = (await store.findPrincipal('user', request.params.name)) ?? (await store.findPrincipal('service_account', request.params.name));
    if (!principal) throw new GatewayError('not_found', `no user or service account named "${request.params.name}"`);
    const revoked = await credentials.revokePrincipal(principal.id);
    watch.revoked(revoked);
    return { principal: principal.name, revoked };
  });

  api.post('/token/exchange', async (request, reply) => {
    const body = parse(exchange, request.body);
    const { secret, token } = await serviceAccounts.exchange(bearerOf(request), { ttlMs: body.ttl, connections: body.connections, name: body.name });
    return reply.code(201).send({ token: secret, id: token.id, connections: token.connections, expiresAt: token.expiresAt });
  });
}
