/**
 * SCIM 2.0 (RFC 7643, 7644) at /scim/v2, for an identity provider (Okta, Entra ID) to provision
 * and deprovision people and groups. Registered beside the admin API on the admin listener only:
 * a gateway whose admin API has a listener of its own (admin.listen) never serves it to agents.
 *
 * Every request needs a gsc_ token (`gatehouse scim token create`) whose creator holds the admin
 * role now; any other credential, a missing one, a revoked one, or one whose creator was demoted
 * is a 401 in SCIM's error shape. Every change is recorded as an admin action
 * (audit/admin-actions.ts), naming the SCIM client and what a disable or a lost grant cut.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthError } from '../../errors.ts';
import { toPrincipal, type AuthContext } from '../../identity/credentials.ts';
import { GrantCoverage } from '../../identity/grant-coverage.ts';
import { Offboarding } from '../../identity/offboarding.ts';
import { accessFor } from '../../identity/roles.ts';
import { noteAction, noteError, recordAdminActions } from '../../audit/admin-actions.ts';
import type { ApiDeps } from '../types.ts';
import { bearerOf } from '../request.ts';
import { registerScimDiscovery } from './discovery.ts';
import { ERROR_SCHEMA, toScimError } from './errors.ts';
import { ScimGroups } from './groups-service.ts';
import { registerScimGroupRoutes } from './groups-routes.ts';
import { parseScimJson } from './json-body.ts';
import { SCIM_PREFIX, sendScim } from './reply.ts';
import { ScimUsers } from './users-service.ts';
import { registerScimUserRoutes } from './users-routes.ts';

export { SCIM_PREFIX } from './reply.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The SCIM client's token, once verified. */
    scimAuth?: AuthContext;
  }
}

/**
 * A gsc_ token acts with its creator's authority: it works only while that principal is enabled
 * and holds the admin role, read from the store and the configured grants on every request (as
 * the admin API reads a caller's roles), so an admin demoted at the identity provider cannot
 * provision their way back with a token made while they were one.
 */
async function verifyScimClient(deps: ApiDeps, request: FastifyRequest): Promise<AuthContext> {
  const verified = await deps.credentials.verify(bearerOf(request), 'scim');
  const { tokenId } = verified.credential;
  const row = await deps.store.getPrincipal(verified.principal.id);
  if (!row || row.disabledAt !== null) throw new AuthError('auth_revoked', `the identity behind SCIM token ${tokenId} is disabled; an admin issues a new one with gatehouse scim token create`);
  const auth: AuthContext = { principal: toPrincipal(row), credential: verified.credential };
  // Set before the refusal, so it is recorded with whose token was refused.
  request.scimAuth = auth;
  const { roles } = accessFor(auth.principal, deps.roleGrants());
  if (!roles.includes('admin')) {
    noteAction(request, { details: { via: 'scim', client: auth.credential.name } });
    deps.logger?.warn({ tokenId, principalId: row.id, principal: row.name, roles }, 'SCIM token refused: its creator no longer holds the admin role');
    throw new AuthError(
      'auth_revoked',
      `SCIM token ${tokenId} was issued by ${row.name}, who no longer holds the admin role; an admin issues a new one with gatehouse scim token create`,
    );
  }
  return auth;
}

export async function registerScim(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const offboarding = new Offboarding(deps);
  const groups = new ScimGroups(deps.store, new GrantCoverage(deps));
  const users = new ScimUsers(deps.store, offboarding, groups);

  await app.register(
    async (scope) => {
      // Only JSON (application/scim+json, or application/json as some clients send), parsed with a depth limit.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(['application/scim+json', 'application/json'], { parseAs: 'string' }, (_request, body, done) => {
        try {
          done(null, parseScimJson(body as string));
        } catch (err) {
          done(err as Error, undefined);
        }
      });

      scope.setErrorHandler((err, request, reply) => {
        const { status, body, error } = toScimError(err);
        if (error) noteError(request, error);
        if (error instanceof AuthError) {
          reply.header('www-authenticate', 'Bearer realm="gatehouse-scim"');
          deps.logger?.warn({ code: error.code, ip: request.ip, path: request.url.split('?')[0] }, 'SCIM request refused');
        } else if (status >= 500) {
          deps.logger?.error({ err, path: request.url.split('?')[0] }, 'SCIM request failed');
        }
        return sendScim(reply, status, body);
      });

      scope.setNotFoundHandler((request, reply) =>
        sendScim(reply, 404, { schemas: [ERROR_SCHEMA], status: '404', detail: `no SCIM endpoint ${request.method} ${request.url.split('?')[0]}` }),
      );

      // Before the body is read: an unauthenticated request is refused without parsing anything it sent.
      scope.addHook('onRequest', async (request) => {
        request.scimAuth = await verifyScimClient(deps, request);
      });

      // Changes only: a SCIM client polls, and its reads are not admin actions.
      recordAdminActions(scope, {
        store: deps.store,
        caller: (request) => (request.method === 'GET' ? undefined : request.scimAuth),
        replicaId: () => deps.coordination?.replicaId ?? null,
        onError: (err, request, what) => deps.logger?.error({ err, path: request.url.split('?')[0] }, `SCIM: ${what} failed`),
      });

      registerScimDiscovery(scope);
      registerScimUserRoutes(scope, users, deps.logger);
      registerScimGroupRoutes(scope, groups, deps.logger);
    },
    { prefix: SCIM_PREFIX },
  );
}
