import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AuthError, GatewayError } from '../../errors.ts';
import { parseJsonStrict } from '../../masking/json-strict.ts';
import { ASYMMETRIC_ALGORITHMS } from '../../config/identity-oidc.ts';
import { formatDuration } from '../../util/durations.ts';
import type { IssuerKeys } from './issuer-keys.ts';

/** Real ID tokens are a few kilobytes (Entra ID with many groups up to about 8 KiB); anything past this is refused unread. */
export const MAX_JWT_LENGTH = 16 * 1024;

/**
 * Three base64url segments: a JWS in compact form. A JWE (five), padding or spaces are refused; an
 * empty signature passes this shape so that `alg: none` is refused as what it is.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const ALLOWED = new Set<string>(ASYMMETRIC_ALGORITHMS);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface UnverifiedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface VerifyExpectations {
  readonly issuer: string;
  /** `aud` must hold at least one of these. */
  readonly audiences: readonly string[];
  /** A subset of the asymmetric algorithms; all of them when left out. */
  readonly algorithms?: readonly string[];
  readonly clockSkewMs: number;
  readonly now: number;
  /**
   * When set, an `azp` claim (authorized party) must equal it, and a token naming several audiences
   * must carry one (OIDC Core §3.1.3.7): it was issued to that client, not to another one listed.
   */
  readonly authorizedParty?: string;
  /** When set, a token issued (iat) longer ago than this (plus the skew) is refused, whatever its exp. */
  readonly maxAgeMs?: number;
}

export type VerifiedClaims = JWTPayload & { readonly iss: string; readonly sub: string; readonly exp: number };

function malformed(why: string): AuthError {
  return new AuthError('auth_invalid', `not a usable token: ${why}`);
}

function segment(text: string, what: string): Record<string, unknown> {
  let json: string;
  try {
    json = utf8.decode(Buffer.from(text, 'base64url'));
  } catch {
    throw malformed(`its ${what} is not UTF-8`);
  }
  let parsed: ReturnType<typeof parseJsonStrict>;
  try {
    parsed = parseJsonStrict(json);
  } catch {
    throw malformed(`its ${what} is not JSON`);
  }
  const { value } = parsed;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`its ${what} is not a JSON object`);
  // Readers disagree on a repeated key (first or last wins): a token that names one twice is refused.
  if (parsed.duplicateKeys) throw malformed(`its ${what} names a key twice`);
  return value as Record<string, unknown>;
}

/**
 * The token's header and claims, unverified: what to look up (issuer, key) before verifying, and
 * what to refuse before fetching anything (size, shape, algorithm). Never trust what it returns.
 */
export function inspectJwt(token: unknown): UnverifiedJwt {
  if (typeof token !== 'string' || token === '') throw new AuthError('auth_missing', 'no token was sent');
  if (token.length > MAX_JWT_LENGTH) throw malformed(`it is longer than ${MAX_JWT_LENGTH} characters`);
  if (!COMPACT_JWS.test(token)) throw malformed('expected a signed JWT: three base64url parts joined by dots');
  const [head, body] = token.split('.') as [string, string, string];
  const header = segment(head, 'header');
  const { alg, typ } = header;
  if (typeof alg !== 'string' || !ALLOWED.has(alg)) {
    throw new AuthError('auth_alg_refused', `algorithm ${JSON.stringify(alg ?? null)} is refused: only ${[...ALLOWED].join(', ')} are accepted`, {
      details: { alg: typeof alg === 'string' ? alg.slice(0, 20) : null },
    });
  }
  // An access token (typ at+jwt) or a logout token must not pass for an ID token.
  if (typ !== undefined && (typeof typ !== 'string' || !/^(application\/)?jwt$/i.test(typ))) {
    throw malformed(`token type ${JSON.stringify(typ)} is not an ID or workload token (typ JWT)`);
  }
  if (header.cty !== undefined) throw malformed('nested tokens (cty) are not accepted');
  const payload = segment(body, 'claims');
  return { header, payload };
}

/** Checks signature, issuer, audience, lifetime and algorithm; every refusal is an AuthError with its own code. */
export async function verifyJwt(token: string, keys: IssuerKeys, expect: VerifyExpectations): Promise<VerifiedClaims> {
  const { header, payload } = inspectJwt(token);
  if (expect.algorithms && !expect.algorithms.includes(header.alg as string)) {
    throw new AuthError('auth_alg_refused', `algorithm ${String(header.alg)} is not among this issuer's algorithms (${expect.algorithms.join(', ')})`);
  }
  if (payload.iss !== expect.issuer) {
    throw new AuthError('auth_unknown_issuer', `the token was issued by ${describeIss(payload.iss)}, not by ${expect.issuer}`);
  }
  const skew = Math.floor(expect.clockSkewMs / 1000);
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, keys.resolver, {
      issuer: expect.issuer,
      audience: [...expect.audiences],
      algorithms: expect.algorithms ? [...expect.algorithms] : [...ALLOWED],
      clockTolerance: skew,
      currentDate: new Date(expect.now),
      requiredClaims: ['iss', 'sub', 'exp', 'iat'],
    }));
  } catch (err) {
    throw toAuthError(err, keys.issuer);
  }
  const nowSeconds = Math.floor(expect.now / 1000);
  // jose checks iat only against a maximum age; one ahead of the clock is a token not valid yet.
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) throw malformed('its iat is not a number');
  if (claims.iat > nowSeconds + skew) throw new AuthError('auth_not_yet_valid', 'the token was issued in the future (iat): check the clocks of the gateway and the issuer');
  if (expect.maxAgeMs !== undefined && claims.iat * 1000 < expect.now - expect.maxAgeMs - skew * 1000) {
    throw new AuthError('auth_expired', `the token was issued more than ${formatDuration(expect.maxAgeMs)} ago (iat): sign in again for a fresh one`, {
      details: { maxTokenAgeMs: expect.maxAgeMs },
    });
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new AuthError('auth_claim_missing', 'the token has no subject (sub)');
  if (expect.authorizedParty !== undefined) checkAuthorizedParty(claims, expect.authorizedParty);
  return claims as VerifiedClaims;
}

function checkAuthorizedParty(claims: JWTPayload, clientId: string): void {
  if (claims.azp !== undefined && claims.azp !== clientId) throw new AuthError('auth_wrong_audience', 'the token was issued to another client (azp)');
  const audiences = new Set(Array.isArray(claims.aud) ? claims.aud : [claims.aud]);
  if (audiences.size > 1 && claims.azp === undefined) {
    throw new AuthError('auth_wrong_audience', 'the token names several audiences (aud) but no authorized party (azp): it may have been issued to another client');
  }
}

function describeIss(iss: unknown): string {
  if (typeof iss !== 'string') return 'no issuer (iss)';
  return JSON.stringify(iss.length > 200 ? `${iss.slice(0, 200)}…` : iss);
}

/** jose's failures as our codes; anything that is not about the token (a fetch) means the issuer is unavailable. */
function toAuthError(err: unknown, issuer: string): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof joseErrors.JWTExpired) return new AuthError('auth_expired', 'the token has expired (exp): get a new one from the issuer');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return new AuthError('auth_claim_missing', `the token has no ${err.claim} claim`);
    if (err.claim === 'aud') return new AuthError('auth_wrong_audience', 'the token was issued for another audience (aud)');
    if (err.claim === 'iss') return new AuthError('auth_unknown_issuer', `the token was not issued by ${issuer}`);
    if (err.claim === 'nbf' && err.reason === 'check_failed') {
      return new AuthError('auth_not_yet_valid', 'the token is not valid yet (nbf): check the clocks of the gateway and the issuer');
    }
    return malformed(`its ${err.claim} claim is not valid`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError('auth_alg_refused', 'the token\'s algorithm is not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AuthError('auth_bad_signature', `the token's signature does not verify with the keys of ${issuer}`);
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new AuthError('auth_unknown_key', `the token's signing key is not among the keys ${issuer} publishes`);
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported) {
    return malformed(err.message);
  }
  return new AuthError('auth_issuer_unavailable', `cannot verify tokens of issuer ${issuer} now: its key set could not be fetched; try again shortly`, {
    cause: err,
  });
}
