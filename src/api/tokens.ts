import { z } from 'zod';
import { ForbiddenError, InvalidArgument, NotFound } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import type { Principal } from '../interaction.ts';
import type { PrincipalRow, TokenRow } from '../store/types.ts';
import { toPrincipal } from '../identity/credentials.ts';
import { newId } from '../identity/token-format.ts';
import type { Api, ApiDeps, Caller } from './types.ts';
import { bearerOf, durationField } from './request.ts';
import { epochMs, errorResponses, revokedIds, SERVICE_ACCOUNT_SECRET } from './schemas.ts';
import { agentForToken } from './agent-of-token.ts';

const connectionNames = z.array(z.string().min(1)).min(1, 'name at least one connection');

const createToken = z
  .object({
    name: z.string().min(1).max(200).default('agent token'),
    connections: connectionNames.describe('Connections the token may reach'),
    ttl: durationField.optional().describe('Lifetime, e.g. 15m; the configured default when left out, capped by config and policy'),
    for: z
      .object({ user: z.string().min(1).max(200), groups: z.array(z.string().min(1)).default([]) })
      .strict()
      .optional()
      .describe('Issue for this user instead of the caller; the user is created on first use'),
    agent: z.string().min(1).max(300).optional().describe("The agent it belongs to: an agent id, or a name of the principal's agents (created when new); left out, the agent named after the token"),
  })
  .strict();

const exchange = z
  .object({
    ttl: durationField.optional(),
    connections: z.array(z.string().min(1)).optional().describe("Narrow to these of the service account's connections"),
    name: z.string().min(1).max(200).optional(),
  })
  .strict();

/** What the API shows of a token: never its hash. */
const tokenView = z
  .object({
    id: z.string(),
    kind: z.enum(['agent', 'service_account', 'admin', 'scim']),
    name: z.string(),
    principal: z.string().describe('Name of the user, service account or admin it acts for'),
    connections: z.array(z.string()).nullable().describe('Connections it may reach; null means any'),
    createdAt: epochMs,
    expiresAt: epochMs.nullable(),
    revokedAt: epochMs.nullable(),
    parentId: z.string().nullable().describe('The token it was exchanged from'),
    agentId: z.string().nullable().describe('The agent it belongs to (gatehouse agents list)'),
  })
  .meta({ id: 'Token' });

const issuedToken = tokenView.extend({ token: z.string().describe('The gth_ secret: shown once, only its hash is kept') });

function viewToken(row: TokenRow, principalName: string): z.output<typeof tokenView> {
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
    agentId: row.agentId ?? null,
  };
}

export function registerTokenRoutes(api: Api, deps: ApiDeps): void {
  const { store, credentials, serviceAccounts, coordination, connections } = deps;

  const requireConnections = (wanted: readonly string[]) => {
    const missing = wanted.filter((name) => !connections.get(name));
    if (missing.length > 0) throw new InvalidArgument(`unknown connection(s): ${missing.join(', ')}`);
  };

  /**
   * A user (not admin) issues only for itself and only for connections its grants list. Checked
   * before whether the connections exist, so a user learns nothing of connections outside its grants.
   */
  const ownIssue = (caller: Caller, body: { connections: readonly string[]; for?: { user: string; groups: readonly string[] } }): Principal => {
    const self = caller.auth.principal;
    if (body.for && (body.for.user !== self.name || self.kind !== 'user' || body.for.groups.length > 0)) {
      throw new ForbiddenError('forbidden_role', 'a user may issue tokens only for themselves: leave out "for" (issuing for another user needs the role admin)', {
        details: { allowed: ['admin'] },
      });
    }
    const outside = body.connections.filter((name) => !caller.connections.includes(name));
    if (outside.length > 0) {
      throw new ForbiddenError(
        'forbidden_role',
        `your role grants do not cover connection(s) ${outside.join(', ')}; they cover: ${caller.connections.join(', ') || 'none'}`,
        { details: { connections: outside } },
      );
    }
    return self;
  };

  const userPrincipal = async (name: string, groups: readonly string[]): Promise<Principal> => {
    const found = await store.findPrincipal('user', name);
    if (found) return toPrincipal(found);
    const row: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [...groups], createdAt: Date.now(), disabledAt: null };
    await store.insertPrincipal(row);
    return toPrincipal(row);
  };

  api.route({
    method: 'POST',
    url: '/tokens',
    schema: {
      tags: ['tokens'],
      operationId: 'createToken',
      summary: 'Issue a short-lived gth_ token for an agent',
      body: createToken,
      response: { 201: issuedToken.describe('Issued'), ...errorResponses },
    },
    // A user issues for itself, for the connections its grants list (ownIssue).
    config: { allow: ['user'] },
    handler: async (request, reply) => {
      const body = request.body;
      const caller = request.caller!;
      const admin = caller.roles.includes('admin');
      const own = admin ? null : ownIssue(caller, body);
      requireConnections(body.connections);
      const principal = own ?? (body.for ? await userPrincipal(body.for.user, body.for.groups) : caller.auth.principal);
      const ttlMs = credentials.resolveTtl(body.ttl, principal.groups);
      const agentId = body.agent === undefined ? undefined : await agentForToken(store, body.agent, principal, caller);
      const { secret, token } = await credentials.issue({ principal, kind: 'agent', name: body.name, connections: body.connections, ttlMs, agentId });
      noteAction(request, { target: token.id, details: { principal: principal.name, connections: token.connections, expiresAt: token.expiresAt } });
      return reply.code(201).send({ token: secret, ...viewToken(token, principal.name) });
    },
  });

  api.route({
    method: 'GET',
    url: '/tokens',
    schema: {
      tags: ['tokens'],
      operationId: 'listTokens',
      summary: 'Live tokens; with all=true also revoked and expired ones',
      querystring: z.object({ all: z.enum(['true', 'false']).default('false') }).strict(),
      response: { 200: z.object({ tokens: z.array(tokenView) }).describe('The tokens'), ...errorResponses },
    },
    // A user sees only its own tokens.
    config: { allow: ['user'] },
    handler: async (request) => {
      const all = request.query.all === 'true';
      const caller = request.caller!;
      const principalId = caller.roles.includes('admin') ? undefined : caller.auth.principal.id;
      const [rows, principals] = await Promise.all([
        store.listTokens({ ...(principalId ? { principalId } : {}), includeRevoked: all, includeExpired: all, now: Date.now() }),
        store.listPrincipals(),
      ]);
      const names = new Map(principals.map((p) => [p.id, p.name]));
      return { tokens: rows.map((row) => viewToken(row, names.get(row.principalId) ?? row.principalId)) };
    },
  });

  api.route({
    method: 'DELETE',
    url: '/tokens/:id',
    schema: {
      tags: ['tokens'],
      operationId: 'revokeToken',
      summary: 'Revoke a token and every token exchanged from it',
      params: z.object({ id: z.string().min(1) }),
      response: { 200: z.object({ revoked: revokedIds }).describe('Revoked'), ...errorResponses },
    },
    // A user revokes only its own tokens.
    config: { allow: ['user'] },
    handler: async (request) => {
      const token = await store.getToken(request.params.id);
      if (!token) throw new NotFound(`no token "${request.params.id}"`);
      const caller = request.caller!;
      if (!caller.roles.includes('admin') && token.principalId !== caller.auth.principal.id) {
        throw new ForbiddenError('forbidden_role', `token ${token.id} is not yours: a user may revoke only their own tokens`, { details: { allowed: ['admin'] } });
      }
      const revoked = await credentials.revoke(token.id);
      await coordination.publish({ type: 'tokens.revoked', tokenIds: revoked, reason: 'revoked' });
      noteAction(request, { details: { revoked } });
      return { revoked };
    },
  });

  api.route({
    method: 'POST',
    url: '/token/exchange',
    schema: {
      tags: ['tokens'],
      operationId: 'exchangeToken',
      summary: "Trade a service account's gts_ secret (as the bearer) for a short-lived gth_ token",
      security: [{ [SERVICE_ACCOUNT_SECRET]: [] }],
      body: exchange,
      response: {
        201: z
          .object({ token: z.string().describe('The gth_ secret: shown once'), id: z.string(), connections: z.array(z.string()).nullable(), expiresAt: epochMs.nullable() })
          .describe('Issued'),
        ...errorResponses,
      },
    },
    handler: async (request, reply) => {
      const body = request.body;
      const { secret, token } = await serviceAccounts.exchange(bearerOf(request), { ttlMs: body.ttl, connections: body.connections, name: body.name });
      return reply.code(201).send({ token: secret, id: token.id, connections: token.connections, expiresAt: token.expiresAt });
    },
  });
}
