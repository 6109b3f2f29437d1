import { BadRequest, Conflict, GatewayError, InvalidArgument, NotFound, toGatewayError } from '../../errors.ts';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** RFC 7644 §3.12: what a provider reads to tell which part of its request was wrong. */
export type ScimType = 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue';

/** A 400 a provider can act on: the scimType travels in the error's details. */
export function scimInvalid(scimType: ScimType, detail: string): GatewayError {
  return scimType === 'invalidSyntax' ? new BadRequest(detail, { details: { scimType } }) : new InvalidArgument(detail, { details: { scimType } });
}

export function scimConflict(detail: string): GatewayError {
  return new Conflict(detail, { details: { scimType: 'uniqueness' } });
}

export function scimNotFound(what: 'User' | 'Group' | 'ResourceType' | 'Schema', id: string): GatewayError {
  return new NotFound(`no ${what} with id "${id.length > 100 ? `${id.slice(0, 100)}…` : id}"`);
}

export interface ScimErrorBody {
  readonly schemas: readonly string[];
  readonly status: string;
  readonly scimType?: string;
  readonly detail: string;
}

/**
 * Any failure in SCIM's error schema. Fastify's own refusals (unsupported content type, body over
 * the limit) keep their status; anything not ours becomes a 500 that says nothing more.
 */
export function toScimError(err: unknown): { status: number; body: ScimErrorBody; error: GatewayError | null } {
  const status = (err as { statusCode?: number } | null)?.statusCode;
  if (!(err instanceof GatewayError) && typeof status === 'number' && status >= 400 && status < 500) {
    const body: ScimErrorBody = { schemas: [ERROR_SCHEMA], status: String(status), ...(status === 400 ? { scimType: 'invalidSyntax' } : {}), detail: (err as Error).message };
    return { status, body, error: null };
  }
  const error = toGatewayError(err);
  const scimType = typeof error.details.scimType === 'string' ? error.details.scimType : error.code === 'conflict' ? 'uniqueness' : undefined;
  return {
    status: error.status,
    body: { schemas: [ERROR_SCHEMA], status: String(error.status), ...(scimType ? { scimType } : {}), detail: error.message },
    error,
  };
}
