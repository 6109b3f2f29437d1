/**
 * Gatehouse S3 credentials. Signature V4 needs the secret on the verifying side, and tokens are
 * stored only as hashes, so the secret is never stored: it is derived from the access key id
 * under a gateway key (k_s3), which is kept sealed in the store like a connection credential.
 * The access key id names the token row (expiry, revocation, principal, scope), so an S3
 * credential is revoked and expires like any token. See docs/s3.md.
 */
import { createHmac } from 'node:crypto';

/** Looks like an AWS key id (upper case, no `/`), and says whose it is. */
const PREFIX = 'GHS3';
const TOKEN_ID = /^tok_[0-9a-f]{26}$/;

export interface S3CredentialKey {
  /** The secret access key a client signs with, for an access key id. */
  secretFor(accessKeyId: string): string;
}

/** Secrets under k_s3 (loaded and sealed by api/s3-credentials.ts). */
export function s3CredentialKey(key: Buffer): S3CredentialKey {
  return {
    secretFor: (accessKeyId) => createHmac('sha256', key).update(accessKeyId).digest('base64url'),
  };
}

export function accessKeyIdOf(tokenId: string): string {
  if (!TOKEN_ID.test(tokenId)) throw new Error(`not a token id: ${tokenId}`);
  return PREFIX + tokenId.slice(4).toUpperCase();
}

/** The token an access key id names; null for one Gatehouse did not issue. */
export function tokenIdOf(accessKeyId: string): string | null {
  if (!accessKeyId.startsWith(PREFIX)) return null;
  const id = `tok_${accessKeyId.slice(PREFIX.length).toLowerCase()}`;
  return TOKEN_ID.test(id) && accessKeyIdOf(id) === accessKeyId ? id : null;
}
