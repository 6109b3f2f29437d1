import { Conflict, GatewayError, InvalidArgument, StoreError } from '../errors.ts';

// Lives outside store/ because the PostgreSQL limit counters (policy/) report through it too, and
// policy/ must not import store/.

export type Engine = 'sqlite' | 'postgres';

/** What a failed statement broke, as far as the caller can act on it. */
export type Violation = 'unique' | 'foreign_key' | null;

/**
 * Turns an engine error into ours. A duplicate key or a missing parent row is the caller's
 * mistake (`conflict`, `invalid_argument`); anything else means storage is not usable.
 * `secrets` (e.g. the password from the database URL) are cut out of every message.
 */
export function storeFailure(
  engine: Engine,
  err: unknown,
  options: { violation?: Violation; secrets?: readonly string[]; where?: string } = {},
): GatewayError {
  if (err instanceof GatewayError) return err;
  const { violation = null, secrets = [], where } = options;
  if (violation === 'unique') {
    return new Conflict(`${engine} store: a row with the same key already exists`, { cause: err });
  }
  if (violation === 'foreign_key') {
    return new InvalidArgument(`${engine} store: the row refers to a row that does not exist`, { cause: err });
  }
  const detail = redact(errorText(err), secrets);
  const place = where ? ` (${redact(where, secrets)})` : '';
  return new StoreError(`${engine} store${place} unavailable: ${detail || 'unknown error'}`, { cause: err });
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out;
}

/** Node reports a failed connect to a name with several addresses as an AggregateError with no message. */
function errorText(err: unknown): string {
  if (err instanceof AggregateError && !err.message) return err.errors.map(errorText).join('; ');
  if (err instanceof Error) return err.message || String((err as { code?: unknown }).code ?? '');
  return String(err);
}
