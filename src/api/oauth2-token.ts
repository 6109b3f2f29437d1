import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { GatewayError, toGatewayError } from '../errors.ts';
import { parseJsonStrict } from '../masking/json-strict.ts';
import { actedAs } from '../audit/admin-actions.ts';
import type { Api, ApiDeps } from './types.ts';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const SUBJECT_TOKEN_TYPES = ['urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:token-type:id_token'];
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const MAX_BODY = 64 * 1024;

/** RFC 6749 §5.2 error codes this endpoint answers with (and 503/500 when the gateway cannot decide). */
type OAuthErrorCode = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_target' | 'temporarily_unavailable' | 'server_error';

class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    readonly gatehouseCode?: string,
  ) {
    super(description);
  }
}

const exchangeRequest = z
  .looseObject({
    grant_type: z.string().describe(`Must be ${TOKEN_EXCHANGE_GRANT}`),
    subject_token: z.string().describe("The workload's own token: a JWT from an issuer identity.workload trusts"),
    subject_token_type: z.string().describe(SUBJECT_TOKEN_TYPES.join(' or ')),
    requested_token_type: z.string().optional().describe(`Only ${ACCESS_TOKEN_TYPE}`),
    scope: z.string().optional().describe('Space-separated connection names to narrow the token to'),
  })
  .describe('Form-encoded (application/x-www-form-urlencoded) or JSON; each parameter at most once');

const exchangeAnswer = z
  .object({
    access_token: z.string().describe('The gth_ token: shown once, only its hash is kept'),
    issued_token_type: z.literal(ACCESS_TOKEN_TYPE),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('Seconds'),
    scope: z.string().describe('The connections the token reaches, space-separated'),
  })
  .meta({ id: 'TokenExchangeResponse' });

const oauthError = z
  .object({
    error: z.string().describe('invalid_request, invalid_grant, unsupported_grant_type, invalid_target, temporarily_unavailable or server_error'),
    error_description: z.string(),
    gatehouse_code: z.string().optional().describe('The Gatehouse error code (docs/errors.md), e.g. auth_conditions_unmet'),
  })
  .meta({ id: 'OAuthError', description: 'RFC 6749 §5.2 error' });

/** RFC 6749 §3.2: a parameter sent twice is refused, whatever the encoding. */
function parseForm(text: string): Record<string, string> {
  const seen = new Set<string>();
  const entries: [string, string][] = [];
  for (const [key, value] of new URLSearchParams(text)) {
    if (seen.has(key)) throw new OAuthError('invalid_request', `parameter ${key.slice(0, 50)} is sent more than once`);
    seen.add(key);
    entries.push([key, value]);
  }
  // fromEntries defines own properties: a parameter named __proto__ is data, never the prototype.
  return Object.fromEntries(entries);
}

function parseJson(text: string): unknown {
  let parsed: ReturnType<typeof parseJsonStrict>;
  try {
    parsed = parseJsonStrict(text);
  } catch {
    throw new OAuthError('invalid_request', 'the body is not valid JSON');
  }
  if (parsed.duplicateKeys) throw new OAuthError('invalid_request', 'a parameter is sent more than once');
  return parsed.value;
}

/** A Gatehouse refusal in RFC 6749 §5.2 terms; the Gatehouse code rides along. */
function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  const statusCode = (err as { statusCode?: number }).statusCode;
  if (!(err instanceof GatewayError) && statusCode && statusCode < 500) {
    return new OAuthError('invalid_request', statusCode === 413 ? `the body is larger than ${MAX_BODY} bytes` : (err as Error).message);
  }
  const error = toGatewayError(err);
  const code = error.code;
  if (code === 'auth_issuer_unavailable' || code === 'store_unavailable') return new OAuthError('temporarily_unavailable', error.message, 503, code);
  if (code.startsWith('auth_')) return new OAuthError('invalid_grant', error.message, 400, code);
  if (code === 'forbidden_connection') return new OAuthError('invalid_target', error.message, 400, code);
  if (code === 'invalid_argument' || code === 'bad_request' || code === 'body_too_large') return new OAuthError('invalid_request', error.message, 400, code);
  return new OAuthError('server_error', 'the token could not be issued; the gateway log has details', 500, code);
}

function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  const headers: Record<string, string> = { 'cache-control': 'no-store', pragma: 'no-cache' };
  if (err.gatehouseCode) headers['x-gatehouse-error'] = err.gatehouseCode;
  return reply
    .code(err.status)
    .headers(headers)
    .send({ error: err.error, error_description: err.description, ...(err.gatehouseCode ? { gatehouse_code: err.gatehouseCode } : {}) });
}

/**
 * POST /oauth2/token: OAuth 2.0 Token Exchange (RFC 8693) for workload identity federation. Public:
 * the subject token is the credential. Answers and errors are shaped as RFC 6749 says (§5.1, §5.2),
 * not as the rest of the API, so OAuth clients read them; the Gatehouse code is in gatehouse_code.
 */
export function registerOAuth2TokenRoutes(api: Api, deps: ApiDeps): void {
  void api.register(async (child) => {
    const scope = child.withTypeProvider<ZodTypeProvider>();
    // In this scope only: the rest of the API takes JSON alone.
    scope.removeContentTypeParser(['application/json']);
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_BODY }, (_req, body, done) => {
      try {
        done(null, parseForm(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY }, (_req, body, done) => {
      try {
        done(null, parseJson(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    scope.setErrorHandler((err, request, reply) => {
      const oauth = toOAuthError(err);
      if (oauth.error === 'server_error') request.log.error({ err }, 'token exchange failed');
      return sendOAuthError(reply, oauth);
    });

    scope.route({
      method: 'POST',
      url: '/oauth2/token',
      schema: {
        tags: ['tokens'],
        operationId: 'oauth2TokenExchange',
        summary: "Trade a workload's own token (a CI job's OIDC token) for a short-lived gth_ token (RFC 8693)",
        security: [],
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: exchangeRequest,
        response: { 200: exchangeAnswer.describe('Issued'), '4xx': oauthError, '5xx': oauthError },
      },
      handler: async (request, reply) => {
        const body = request.body;
        if (body.grant_type !== TOKEN_EXCHANGE_GRANT) {
          throw new OAuthError('unsupported_grant_type', `only grant_type ${TOKEN_EXCHANGE_GRANT} is supported here`);
        }
        if (!SUBJECT_TOKEN_TYPES.includes(body.subject_token_type)) {
          throw new OAuthError('invalid_request', `subject_token_type must be ${SUBJECT_TOKEN_TYPES.join(' or ')}`);
        }
        if (body.requested_token_type !== undefined && body.requested_token_type !== ACCESS_TOKEN_TYPE) {
          throw new OAuthError('invalid_request', `requested_token_type can only be ${ACCESS_TOKEN_TYPE}`);
        }
        if (body.actor_token !== undefined || body.actor_token_type !== undefined) {
          throw new OAuthError('invalid_request', 'delegation (actor_token) is not supported');
        }
        const connections = body.scope?.split(' ').filter((word) => word !== '');
        const result = await deps.workloadExchange.exchange({ subjectToken: body.subject_token, connections });
        actedAs(
          request,
          { id: result.token.principalId, name: result.serviceAccount, kind: 'service_account', tokenId: result.token.id },
          { target: result.serviceAccount, details: { trust: result.trust, connections: result.connections, ttlMs: result.ttlMs } },
        );
        return reply
          .code(200)
          .headers({ 'cache-control': 'no-store', pragma: 'no-cache' })
          .send({
            access_token: result.secret,
            issued_token_type: ACCESS_TOKEN_TYPE,
            token_type: 'Bearer',
            expires_in: Math.floor(result.ttlMs / 1000),
            scope: result.connections.join(' '),
          });
      },
    });
  });
}
