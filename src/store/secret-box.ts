/**
 * Secrets at rest (upstream credentials): AES-256-GCM under a key derived from the master
 * key. The AAD names the row a ciphertext belongs to, so a ciphertext copied into another
 * row does not open there.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError, InternalError } from '../errors.ts';

export interface SecretBox {
  seal(plaintext: string, aad: string): string;
  open(ciphertext: string, aad: string): string;
}

const VERSION = 'v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export function createSecretBox(masterKey: Buffer): SecretBox {
  if (masterKey.length !== KEY_BYTES) throw new ConfigError(`the master key must be ${KEY_BYTES} bytes`);
  // A purpose-bound subkey keeps the master key free for other uses without key reuse across them.
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'gatehouse secret-box v1', KEY_BYTES));
  return {
    seal(plaintext, aad) {
      // Random 96-bit IVs are safe far beyond the number of credentials a gateway stores.
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return VERSION + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    },
    open(ciphertext, aad) {
      const raw = ciphertext.startsWith(VERSION) ? Buffer.from(ciphertext.slice(VERSION.length), 'base64') : null;
      if (!raw || raw.length < IV_BYTES + TAG_BYTES) {
        throw new InternalError('stored secret is not in a format this gateway can read');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new InternalError(
          'stored secret could not be decrypted: wrong master key, or the ciphertext was altered or belongs to another row',
          { cause: err },
        );
      }
    },
  };
}

/** Accepts 64 hex characters or base64 (standard or URL-safe) of 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) {
    const key = Buffer.from(value, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  // Never echo the value: it may be a real key with a typo.
  throw new ConfigError(
    'the master key must be 32 bytes written as 64 hex characters or as base64 (generate one with `openssl rand -hex 32`)',
  );
}

/**
 * Tokens are 32+ random bytes, so a dictionary or brute-force attack on a leaked hash is
 * hopeless; a fast unsalted hash is then enough, and it lets a token be found by its hash
 * with one indexed lookup on every request (a salted slow hash would allow neither).
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
