/**
 * SAML sign-in (identity.saml): public routes, since a browser arriving here has no token yet.
 * Registered only when SAML is configured. The session cookie is set here but the API does not
 * read it yet: accepting a cookie needs CSRF protection, which comes with the web console.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidArgument, toGatewayError, type GatewayError } from '../errors.ts';
import { errorBody, errorHeaders } from '../adapters/http/render.ts';
import { safeRelayPath } from '../identity/saml/relay-state.ts';
import { SESSION_COOKIE, sessionCookieName } from '../identity/session-cookie.ts';
import type { SamlServiceProvider, SamlSession } from '../identity/saml/service-provider.ts';
import { errorResponses } from './schemas.ts';
import type { Api, ApiDeps } from './types.ts';

const FORM = 'application/x-www-form-urlencoded';
/**
 * Room for the largest response accepted (MAX_RESPONSE_BYTES decoded) as a browser posts it: base64,
 * perhaps wrapped, then form-encoded (`+`, `/`, `=` and line breaks become three characters each).
 */
const ACS_BODY_LIMIT = 512 * 1024;

const publicRoute = { tags: ['saml' as const], security: [] };

/** Path=/ (which __Host- requires): the HTTP proxy strips it from what it forwards (adapters/http/upstream.ts). */
function sessionCookie(session: SamlSession): string {
  const secure = session.secure ? '; Secure' : '';
  return `${sessionCookieName(session.secure)}=${session.secret}; Path=/; Max-Age=${session.maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

/** A form field sent twice is ambiguous: it is kept as a list, which the body schema refuses. */
function parseForm(body: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(body)) {
    const seen = fields[name];
    fields[name] = seen === undefined ? value : [seen, value].flat();
  }
  return fields;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A person in a browser gets a short page; anything else the API's JSON error. Neither says which check failed. */
function refuse(request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  reply.code(error.status).headers(errorHeaders(error)).header('cache-control', 'no-store');
  if (!(request.headers.accept ?? '').includes('text/html')) return reply.send(errorBody(error));
  return reply
    .header('content-security-policy', "default-src 'none'")
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><meta charset="utf-8"><title>Sign-in refused</title>` +
        `<h1>Sign-in refused</h1><p>${escapeHtml(error.message)}</p><p><code>${error.code}</code></p>` +
        `<p><a href="/api/v1/saml/login">Sign in again</a></p>`,
    );
}

export function registerSamlRoutes(api: Api, deps: ApiDeps): void {
  const saml: SamlServiceProvider | undefined = deps.saml;
  if (!saml) return;

  // A scope of its own: only the assertion consumer reads form bodies.
  api.register(async (plain) => {
    const scope = plain.withTypeProvider<ZodTypeProvider>();
    // The HTTP-POST binding is a form; JSON or text here is no identity provider's.
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: ACS_BODY_LIMIT }, (_request, body, done) => done(null, parseForm(body as string)));

    scope.route({
      method: 'GET',
      url: '/saml/metadata',
      schema: {
        ...publicRoute,
        operationId: 'getSamlMetadata',
        summary: "This service provider's SAML metadata (entity id, ACS URL), for the identity provider",
        response: { 200: z.string().describe('SAML metadata XML'), ...errorResponses },
      },
      handler: async (_request, reply) => reply.type('application/samlmetadata+xml; charset=utf-8').send(saml.metadata()),
    });

    scope.route({
      method: 'GET',
      url: '/saml/login',
      schema: {
        ...publicRoute,
        operationId: 'startSamlLogin',
        summary: 'Send the browser to the identity provider to sign in; it comes back to `relay`',
        querystring: z
          .object({ relay: z.string().max(512).optional().describe('A path on this gateway to land on afterwards, e.g. /console') })
          .strict(),
        response: { 302: z.null().describe('To the identity provider'), ...errorResponses },
      },
      handler: async (request, reply) => {
        const relay = request.query.relay === undefined ? '/' : safeRelayPath(request.query.relay);
        if (relay === null) throw new InvalidArgument('relay: must be a path on this gateway, such as /console', { details: { field: 'relay', in: 'query' } });
        return reply.header('cache-control', 'no-store').redirect(await saml.loginUrl(relay), 302);
      },
    });

    scope.route({
      method: 'POST',
      url: '/saml/acs',
      schema: {
        ...publicRoute,
        operationId: 'consumeSamlAssertion',
        summary: 'Assertion consumer (HTTP-POST binding): verifies the signed assertion, sets the session cookie, redirects',
        consumes: [FORM],
        body: z.object({ SAMLResponse: z.string(), RelayState: z.string().optional() }),
        response: { 303: z.null().describe(`Signed in: the ${SESSION_COOKIE} cookie is set (__Host-${SESSION_COOKIE} over https)`), ...errorResponses },
      },
      handler: async (request, reply) => {
        let session: SamlSession;
        try {
          session = await saml.consume(request.body);
        } catch (err) {
          const error = toGatewayError(err);
          if (error.code === 'internal') throw err;
          return refuse(request, reply, error);
        }
        return reply.header('set-cookie', sessionCookie(session)).header('cache-control', 'no-store').redirect(session.redirectTo, 303);
      },
    });
  });
}
