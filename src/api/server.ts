import type { FastifyInstance, FastifyReply } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Api, ApiDeps } from './types.ts';
import { BadRequest, BodyTooLarge, ForbiddenError, GatewayError, toGatewayError } from '../errors.ts';
import type { AuthContext } from '../identity/credentials.ts';
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

export type { Api, ApiDeps } from './types.ts';

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
  if (status && status < 500) return status === 413 ? new BodyTooLarge((err as Error).message) : new BadRequest((err as Error).message);
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
