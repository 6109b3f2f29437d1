import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, GatewayError, toGatewayError } from '../errors.ts';
import type { AuthContext, Credentials } from '../identity/credentials.ts';
import type { CredentialWatch } from '../identity/credential-watch.ts';
import type { ServiceAccounts } from '../identity/service-accounts.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import type { Store } from '../store/types.ts';
import { errorBody, errorHeaders } from '../adapters/http/render.ts';
import { bearerOf } from './request.ts';
import { registerConnectionRoutes } from './connections.ts';
import { registerIdentityRoutes } from './identity.ts';
import { registerSessionRoutes } from './sessions.ts';

export interface ApiDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly serviceAccounts: ServiceAccounts;
  readonly watch: CredentialWatch;
  readonly connections: ConnectionRegistry;
}

declare module 'fastify' {
  interface FastifyRequest {
    admin?: AuthContext;
  }
}

export const API_PREFIX = '/api/v1';

/** Routes that authenticate with something other than an admin token. */
const PUBLIC_ROUTES: ReadonlySet<string> = new Set([`${API_PREFIX}/token/exchange`]);

export function sendError(reply: FastifyReply, error: GatewayError): FastifyReply {
  return reply.code(error.status).headers(errorHeaders(error)).send(errorBody(error));
}

/** The admin REST API under /api/v1: every route needs an admin token except the service-account exchange. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(
    async (api) => {
      api.setErrorHandler((err, request, reply) => {
        const fastifyStatus = (err as { statusCode?: number }).statusCode;
        const error =
          err instanceof GatewayError
            ? err
            : fastifyStatus && fastifyStatus < 500
              ? new GatewayError(fastifyStatus === 413 ? 'body_too_large' : 'bad_request', (err as Error).message)
              : toGatewayError(err);
        if (error.code === 'internal') request.log.error({ err }, 'admin API request failed');
        return sendError(reply, error);
      });
      api.addHook('onRequest', async (request) => {
        if (PUBLIC_ROUTES.has(request.routeOptions.url ?? '')) return;
        const auth = await deps.credentials.verify(bearerOf(request), 'admin');
        if (auth.principal.kind !== 'admin') throw new AuthError('forbidden_admin', 'this token may not use the admin API');
        request.admin = auth;
      });
      api.get('/whoami', async (request) => ({ principal: request.admin!.principal, tokenId: request.admin!.credential.tokenId }));
      registerConnectionRoutes(api, deps);
      registerIdentityRoutes(api, deps);
      registerSessionRoutes(api, deps);
    },
    { prefix: API_PREFIX },
  );
}
