import type { FastifyInstance, FastifyReply } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Api, ApiDeps, Caller } from './types.ts';
import { AuthError, BadRequest, BodyTooLarge, GatewayError, toGatewayError } from '../errors.ts';
import { toPrincipal, type AuthContext } from '../identity/credentials.ts';
import { accessFor, requireRole, type Role } from '../identity/roles.ts';
import { isBreakGlass, noteError, recordAdminActions } from '../audit/admin-actions.ts';
import { errorBody, errorHeaders } from '../adapters/http/render.ts';
import { bearerOf, validatorCompiler } from './request.ts';
import { ADMIN_TOKEN } from './schemas.ts';
import { registerOpenApi } from './openapi.ts';
import { registerMetaRoutes } from './meta.ts';
import { registerConnectionRoutes } from './connections.ts';
import { registerTokenRoutes } from './tokens.ts';
import { registerAgentRoutes } from './agents.ts';
import { registerS3CredentialRoutes } from './s3-credentials.ts';
import { registerServiceAccountRoutes } from './service-accounts.ts';
import { registerPrincipalRoutes } from './principals.ts';
import { registerSessionRoutes } from './sessions.ts';
import { registerLoginRoutes } from './login.ts';
import { registerOAuth2TokenRoutes } from './oauth2-token.ts';
import { registerPolicyRoutes } from './policy.ts';
import { registerAuditRoutes } from './audit.ts';
import { registerSamlRoutes } from './saml.ts';
import { registerUserRoutes } from './users.ts';
import { registerScimTokenRoutes } from './scim/admin-tokens.ts';
import { registerApprovalRoutes } from './approvals.ts';
import { registerAccessRoutes } from './access.ts';
import { registerMcpPinRoutes } from './mcp-pins.ts';

export type { Api, ApiDeps, Caller } from './types.ts';

/**
 * Any principal holding a live gta_ token authenticates; its roles come from its groups as the
 * store holds them now, not as the token's cached verification saw them, so a group removed at
 * the identity provider (or by SCIM) takes its role away on the next call.
 */
export async function resolveCaller(deps: Pick<ApiDeps, 'credentials' | 'store' | 'roleGrants'>, bearer: string | undefined): Promise<Caller> {
  const verified = await deps.credentials.verify(bearer, 'admin');
  const row = await deps.store.getPrincipal(verified.principal.id);
  if (!row || row.disabledAt !== null) throw new AuthError('auth_revoked', `the identity behind token ${verified.credential.tokenId} is disabled`);
  const auth: AuthContext = { principal: toPrincipal(row), credential: verified.credential };
  const { roles, connections } = accessFor(auth.principal, deps.roleGrants());
  return { auth, roles, connections, breakGlass: isBreakGlass(auth) };
}

/** For endpoints outside the API's scope (/metrics): the same caller, held to `allow` (absent: admin only). */
export async function authorizeCaller(
  deps: Pick<ApiDeps, 'credentials' | 'store' | 'roleGrants'>,
  bearer: string | undefined,
  allow: readonly Role[] | undefined,
  what: string,
): Promise<Caller> {
  const caller = await resolveCaller(deps, bearer);
  requireRole(caller.roles, allow, what);
  return caller;
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
 * A route needs an API token (gta_) unless its schema's `security` names no ADMIN_TOKEN scheme, and
 * one of the roles its `config.allow` lists (admin always may; no list means admin only).
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
        noteError(request, error);
        return sendError(reply, error);
      });
      api.addHook('onRequest', async (request) => {
        const security = request.routeOptions.schema?.security;
        if (security && !security.some((scheme) => ADMIN_TOKEN in scheme)) return;
        // Set before the role check, so a refusal is recorded with who was refused.
        request.caller = await resolveCaller(deps, bearerOf(request));
        const what = `${request.method} ${request.routeOptions.url ?? 'this route'} (${request.routeOptions.schema?.operationId ?? 'unknown route'})`;
        requireRole(request.caller.roles, request.routeOptions.config?.allow, what);
      });
      recordAdminActions(api, {
        store: deps.store,
        caller: (request) => request.caller?.auth,
        replicaId: () => deps.coordination?.replicaId ?? null,
        onError: (err, request, what) => (deps.logger ?? request.log).error({ err, action: request.routeOptions.schema?.operationId }, `admin API: ${what} failed`),
      });
      // Before the routes: @fastify/swagger collects them as they are added.
      await registerOpenApi(api);
      registerMetaRoutes(api, deps);
      registerConnectionRoutes(api, deps);
      registerTokenRoutes(api, deps);
      registerAgentRoutes(api, deps);
      if (deps.s3Key) registerS3CredentialRoutes(api, { ...deps, s3Key: deps.s3Key });
      registerServiceAccountRoutes(api, deps);
      registerPrincipalRoutes(api, deps);
      registerSessionRoutes(api, deps);
      registerLoginRoutes(api, deps);
      registerOAuth2TokenRoutes(api, deps);
      registerPolicyRoutes(api, deps);
      registerAuditRoutes(api, deps);
      registerSamlRoutes(api, deps);
      registerUserRoutes(api, deps);
      registerScimTokenRoutes(api, deps);
      registerApprovalRoutes(api, deps);
      registerAccessRoutes(api, deps);
      registerMcpPinRoutes(api, deps);
    },
    { prefix: API_PREFIX },
  );
}
