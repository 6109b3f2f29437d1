/**
 * SCIM 2.0 (RFC 7643, 7644) at /scim/v2, for an identity provider (Okta, Entra ID) to provision
 * and deprovision people and groups. Registered beside the admin API on the admin listener only:
 * a gateway whose admin API has a listener of its own (admin.listen) never serves it to agents.
 *
 * Every request needs a gsc_ token (`gatehouse scim token create`); any other credential, a
 * missing one or a revoked one is a 401 in SCIM's error shape. Every change is recorded as an
 * admin action (audit/admin-actions.ts), naming the SCIM client and what a disable cut.
 */
import type { FastifyInstance } from 'fastify';
import { AuthError } from '../../errors.ts';
import type { AuthContext } from '../../identity/credentials.ts';
import { Offboarding } from '../../identity/offboarding.ts';
import { noteError, recordAdminActions } from '../../audit/admin-actions.ts';
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

export async function registerScim(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const offboarding = new Offboarding(deps);
  const groups = new ScimGroups(deps.store);
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
        request.scimAuth = await deps.credentials.verify(bearerOf(request), 'scim');
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
      registerScimGroupRoutes(scope, groups);
    },
    { prefix: SCIM_PREFIX },
  );
}
