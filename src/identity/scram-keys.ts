/**
 * SCRAM-SHA-256 keys (RFC 5802, RFC 7677) derived from a Gatehouse token at issue time. Only
 * StoredKey and ServerKey are kept: they check a client's proof and sign the server's answer, and
 * neither gives back the token (StoredKey is a hash of ClientKey, which the proof needs).
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Fixed, so a login's work is bounded and every principal's salt row agrees with its verifiers. */
export const SCRAM_ITERATIONS = 4096;
/** PostgreSQL's own salt length (SCRAM_DEFAULT_SALT_LEN). */
export const SCRAM_SALT_BYTES = 16;

export interface ScramKeys {
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

export function newScramSalt(): Buffer {
  return randomBytes(SCRAM_SALT_BYTES);
}

export const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
export const hmac = (key: Buffer, data: Buffer | string): Buffer => createHmac('sha256', key).update(data).digest();

/**
 * Tokens are ASCII (a prefix and base64url), which SASLprep leaves as they are, so the token's
 * bytes are the normalised password libpq and the drivers derive from.
 */
export async function scramKeys(token: string, salt: Buffer, iterations: number): Promise<ScramKeys> {
  const salted = await pbkdf2Async(Buffer.from(token, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return { storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}
