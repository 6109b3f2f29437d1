import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { parseDuration } from '../policy/duration.ts';

export function bearerOf(request: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1]?.trim();
}

/** Parses a request part with zod; failures name the field. */
export function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new GatewayError('invalid_argument', `${issue.path.join('.') || 'body'}: ${issue.message}`);
}

export const durationField = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

