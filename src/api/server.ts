import type { FastifyBaseLogger, FastifyInstance, FastifyReply, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { ForbiddenError, GatewayError, toGatewayError } from '../errors.ts';
import type { AuthContext, Credentials } from '../identity/credentials.ts';
import type { CredentialWatch } from '../identity/credential-watch.ts';
import type { ServiceAccounts } from '../identity/service-accounts.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import type { Store } from '../store/types.ts';
import { errorBody, errorHeaders } from '../adapters/http/render.ts';
import { bearerOf, validatorCompiler } from './request.ts';
import { ADMIN_TOKEN } from './schemas.ts';
import { registerOpenApi } from './openapi.ts';
import { registerMetaRoutes } from './meta.ts';
import { registerConnectionRoutes } from './connections.ts';
import { registerTokenRoutes } from './tokens.ts';
import { registerServiceAccountRoutes } from './service-accounts.ts';
import { registerPrincipalRoutes } from './principals.ts';
import { registerSessionRoutes } from './sessions.ts';

export interface ApiDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly serviceAccounts: ServiceAccounts;
  readonly watch: CredentialWatch;
  readonly connections: ConnectionRegistry;
}

/** The API's Fastify scope: route schemas are zod, so handlers get typed params, query, body and replies. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

declare module 'fastify' {
  interface FastifyRequest {
    admin?: AuthContext;
  }
}

export const API_PREFIX = '/api/v1';

export function sendError(reply: FastifyReply, error: GatewayError): FastifyReply {
  return reply.code(error.status).headers(errorHeaders(error)).send(errorBody(error));
}

function toApiError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const status = (err as { statusCode?: number }).statusCode;
  // Fastify's own 4xx (malformed JSON, unsupported content type, body over the limit) keep their message.
  if (status && status < 500) return new GatewayError(status === 413 ? 'body_too_large' : 'bad_request', (err as Error).message);
  return toGatewayError(err);
}

/**
 * The admin REST API under /api/v1. Validation, serialization and the OpenAPI document come from
 * each route's zod schema, inside this plugin's scope only (/healthz, /metrics keep Fastify's defaults).
 * A route needs an admin token unless its schema's `security` names no ADMIN_TOKEN scheme.
 */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(
    async (scope) => {
      const api = scope.withTypeProvider<ZodTypeProvider>();
      api.setValidatorCompiler(validatorCompiler);
      api.setSerializerCompiler(serializerCompiler);
      api.setErrorHandler((err, request, reply) => {
        const error = toApiError(err);
        if (error.code === 'internal') request.log.error({ err }, 'admin API request failed');
        return sendError(reply, error);
      });
      api.addHook('onRequest', async (request) => {
        const security = request.routeOptions.schema?.security;
        if (security && !security.some((scheme) => ADMIN_TOKEN in scheme)) return;
        const auth = await deps.credentials.verify(bearerOf(request), 'admin');
        if (auth.principal.kind !== 'admin') throw new ForbiddenError('forbidden_admin', 'this token may not use the admin API');
        request.admin = auth;
      });
      // Before the routes: @fastify/swagger collects them as they are added.
      await registerOpenApi(api);
      registerMetaRoutes(api, deps);
      registerConnectionRoutes(api, deps);
      registerTokenRoutes(api, deps);
      registerServiceAccountRoutes(api, deps);
      registerPrincipalRoutes(api, deps);
      registerSessionRoutes(api, deps);
    },
    { prefix: API_PREFIX },
  );
}
