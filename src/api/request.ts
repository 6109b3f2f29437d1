import type { FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { GatewayError, InvalidArgument } from '../errors.ts';
import { durationOf } from '../util/duration-schema.ts';

export function bearerOf(request: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1]?.trim();
}

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'headers' };

/** The first issue as `invalid_argument`, its message starting with the field a person must fix. */
function invalidArgument(error: z.ZodError, part: string): GatewayError {
  const issue = error.issues[0]!;
  const fields = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key].join('.')) : [issue.path.join('.')];
  const message = issue.code === 'unrecognized_keys' ? (fields.length > 1 ? 'unknown fields' : 'unknown field') : issue.message;
  const field = fields[0] || null;
  return new InvalidArgument(`${fields.join(', ') || part}: ${message}`, { details: { field, in: part } });
}

/**
 * Validates params, query and body with the route's zod schema (fastify-type-provider-zod's own
 * compiler would answer in Fastify's error shape). A missing body is read as `{}`, so a POST
 * without one is told which field it lacks rather than that it sent nothing.
 */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (value) => {
    const part = PART_NAMES[httpPart ?? ''] ?? 'request';
    const result = schema.safeParse(part === 'body' && value == null ? {} : value);
    return result.success ? { value: result.data } : { error: invalidArgument(result.error, part) };
  };

export const durationField = durationOf(z.string().describe('A duration such as 90s, 15m, 8h or 30d'));
