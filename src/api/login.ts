import { z } from 'zod';
import { actedAs } from '../audit/admin-actions.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const publicIssuer = z
  .object({
    name: z.string().describe('What a login names the issuer by (identity.oidc.issuers[].name)'),
    issuer: z.string().describe('The issuer URL; its discovery document is at /.well-known/openid-configuration under it'),
    clientId: z.string().describe('The OAuth client id to sign in with (a public client: PKCE or the device grant)'),
    scopes: z.array(z.string()).describe('Scopes to ask for'),
  })
  .meta({ id: 'OidcIssuer' });

const oidcLogin = z
  .object({
    issuer: z.string().min(1).max(100).describe('The configured issuer name, e.g. okta'),
    idToken: z.string().min(1).max(64 * 1024).describe('The ID token the provider issued (a signed JWT)'),
  })
  .strict();

/**
 * Sign-in with the company's OpenID Connect provider. Both routes are public: the configuration
 * holds nothing secret (never the client secret), and the login's proof is the ID token itself.
 */
export function registerLoginRoutes(api: Api, deps: ApiDeps): void {
  api.route({
    method: 'GET',
    url: '/login/config',
    schema: {
      tags: ['meta'],
      operationId: 'getLoginConfig',
      summary: 'The OIDC issuers a CLI or the console can sign in with',
      security: [],
      response: { 200: z.object({ issuers: z.array(publicIssuer) }).describe('The configured issuers; none when OIDC is off'), ...errorResponses },
    },
    handler: async () => ({ issuers: deps.oidcLogin.publicConfig().issuers.map((issuer) => ({ ...issuer, scopes: [...issuer.scopes] })) }),
  });

  api.route({
    method: 'POST',
    url: '/login/oidc',
    schema: {
      tags: ['meta'],
      operationId: 'loginWithOidc',
      summary: 'Trade an ID token from a configured issuer for a short-lived API token (gta_)',
      security: [],
      body: oidcLogin,
      response: {
        201: z
          .object({
            token: z.string().describe('The gta_ API token: shown once, only its hash is kept; identity.oidc.sessionTtl long'),
            expiresAt: epochMs,
            principal: z.object({ name: z.string(), groups: z.array(z.string()) }),
          })
          .describe('Signed in'),
        ...errorResponses,
      },
    },
    handler: async (request, reply) => {
      const { token, tokenId, expiresAt, principal, issuer, subject } = await deps.oidcLogin.login(request.body.issuer, request.body.idToken);
      actedAs(request, { id: principal.id, name: principal.name, kind: 'user', tokenId }, { target: principal.name, details: { issuer, subject, groups: principal.groups } });
      return reply.code(201).send({ token, expiresAt, principal: { name: principal.name, groups: [...principal.groups] } });
    },
  });
}
