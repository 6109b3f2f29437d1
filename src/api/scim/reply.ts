import type { FastifyReply, FastifyRequest } from 'fastify';
import { scimInvalid } from './errors.ts';
import { parseFilter, type CheckedFilter, type FilterSchema } from './filter.ts';

export const SCIM_PREFIX = '/scim/v2';
export const SCIM_MEDIA_TYPE = 'application/scim+json; charset=utf-8';

export function sendScim(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(SCIM_MEDIA_TYPE).send(body);
}

/** Where this gateway's SCIM resources live, as the provider reached it (meta.location). */
export function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${SCIM_PREFIX}`;
}

export function queryOf(request: FastifyRequest): Record<string, unknown> {
  return (request.query ?? {}) as Record<string, unknown>;
}

export function filterOf(request: FastifyRequest, schema: FilterSchema): CheckedFilter | null {
  const raw = queryOf(request).filter;
  if (raw === undefined) return null;
  if (typeof raw !== 'string') throw scimInvalid('invalidFilter', 'give one filter');
  return parseFilter(raw, schema);
}

/** excludedAttributes=members (Entra ID asks for groups without their members). */
export function excluded(request: FastifyRequest, attribute: string): boolean {
  const raw = queryOf(request).excludedAttributes;
  return typeof raw === 'string' && raw.split(',').some((a) => a.trim().toLowerCase() === attribute.toLowerCase());
}

/**
 * The id after /Users/ or /Groups/. The routes take it as a wildcard, not a :param, so an id over
 * the router's parameter length limit is refused here, in SCIM's error shape, not by the router.
 */
export function idParam(request: FastifyRequest): string {
  const id = (request.params as { '*'?: string })['*'] ?? '';
  if (id.length === 0 || id.length > 256) throw scimInvalid('invalidValue', 'the id in the path is empty or too long');
  return id;
}
