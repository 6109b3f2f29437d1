import { AuthError } from '../../errors.ts';
import type { OidcIssuerConfig } from '../../config/identity-oidc.ts';
import type { Authenticator } from '../authenticator.ts';
import type { IssuerDirectory, OidcIssuers } from './issuers.ts';
import { verifyJwt, type VerifiedClaims } from './jwt-verifier.ts';
import { idTokenKey } from './used-id-tokens.ts';

/** A person as their identity provider vouches for them in a verified ID token. */
export interface OidcIdentity {
  /** The configured issuer's name (identity.oidc.issuers[].name). */
  readonly issuerName: string;
  readonly issuer: string;
  readonly subject: string;
  readonly username: string;
  readonly groups: readonly string[];
  /** The provider left the groups out and points elsewhere for them (Entra ID past 200 groups): groups is then empty. */
  readonly groupsOmitted: boolean;
  /** When the ID token expires (epoch ms). */
  readonly expiresAt: number;
  /** Names the ID token for replay (used-id-tokens.ts): a hash, never the token. */
  readonly tokenKey: string;
  /** Until when the token could be accepted (epoch ms): its key is kept that long. */
  readonly usableUntil: number;
}

const USERNAME_FALLBACK = ['preferred_username', 'email', 'sub'] as const;
const MAX_NAME = 256;
const MAX_GROUPS = 1000;
const CONTROL = /[\u0000-\u001f\u007f]/;

function usableName(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '' && value.length <= MAX_NAME && !CONTROL.test(value);
}

/** Anyone can type an address into their profile at many providers: `email` names a person only once the provider verified it. */
function unverifiedEmail(claims: VerifiedClaims, claim: string): boolean {
  return claim === 'email' && claims.email_verified !== true;
}

function usernameOf(claims: VerifiedClaims, issuer: OidcIssuerConfig): string {
  if (issuer.usernameClaim !== undefined) {
    const value = claims[issuer.usernameClaim];
    if (value === undefined) {
      throw new AuthError('auth_claim_missing', `the ID token has no "${issuer.usernameClaim}" claim, which identity.oidc names as the user name (usernameClaim)`);
    }
    if (!usableName(value)) throw new AuthError('auth_claim_missing', `the ID token's "${issuer.usernameClaim}" claim is not a usable user name`);
    if (unverifiedEmail(claims, issuer.usernameClaim)) {
      throw new AuthError('auth_claim_missing', 'the ID token\'s email is not verified (email_verified is not true), so it cannot name the user: verify it at the provider, or pick another usernameClaim');
    }
    return value;
  }
  for (const claim of USERNAME_FALLBACK) if (usableName(claims[claim]) && !unverifiedEmail(claims, claim)) return claims[claim] as string;
  throw new AuthError('auth_claim_missing', 'the ID token names the user in none of preferred_username, a verified email and sub');
}

/** A group claim holds a list of names (or one name); anything else is refused rather than guessed at. */
function groupsOf(claims: VerifiedClaims, issuer: OidcIssuerConfig): string[] {
  const value = claims[issuer.groupsClaim];
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length > MAX_GROUPS || !list.every(usableName)) {
    throw new AuthError('auth_invalid', `the ID token's "${issuer.groupsClaim}" claim is not a list of group names`);
  }
  return [...new Set(list as string[])];
}

/** OIDC Core §5.6.2 distributed claims: `_claim_names` maps a claim to where it can be fetched instead. */
function hasClaimSource(names: unknown, claim: string): boolean {
  return typeof names === 'object' && names !== null && Object.hasOwn(names, claim);
}

/** Verifies an ID token from a configured issuer and reads the person out of it. */
export class OidcAuthenticator implements Authenticator<{ issuer: string; idToken: string }, OidcIdentity> {
  readonly kind = 'oidc' as const;

  constructor(
    private readonly issuers: OidcIssuers,
    private readonly directory: IssuerDirectory,
    private readonly now: () => number = Date.now,
  ) {
    for (const issuer of issuers.config?.issuers ?? []) directory.keysFor(issuer.issuer, issuer.jwksUri);
  }

  async authenticate(input: { issuer: string; idToken: string }): Promise<OidcIdentity> {
    const issuer = this.issuers.get(input.issuer);
    if (!issuer) {
      const known = this.issuers.names();
      throw new AuthError(
        'auth_unknown_issuer',
        known.length === 0 ? 'no OIDC issuer is configured (identity.oidc)' : `no OIDC issuer is named ${JSON.stringify(input.issuer.slice(0, 100))}; configured: ${known.join(', ')}`,
      );
    }
    const { clockSkew, maxTokenAge } = this.issuers.config!;
    const claims = await verifyJwt(input.idToken, this.directory.keysFor(issuer.issuer, issuer.jwksUri), {
      issuer: issuer.issuer,
      audiences: issuer.audience,
      algorithms: issuer.algorithms,
      clockSkewMs: clockSkew,
      now: this.now(),
      authorizedParty: issuer.clientId,
      maxAgeMs: maxTokenAge,
    });
    return Object.freeze({
      issuerName: issuer.name,
      issuer: issuer.issuer,
      subject: claims.sub,
      username: usernameOf(claims, issuer),
      groups: Object.freeze(groupsOf(claims, issuer)),
      groupsOmitted: claims[issuer.groupsClaim] === undefined && hasClaimSource(claims._claim_names, issuer.groupsClaim),
      expiresAt: claims.exp * 1000,
      tokenKey: idTokenKey(input.idToken, claims.iss, claims.jti),
      usableUntil: Math.min(claims.exp * 1000, (claims.iat as number) * 1000 + maxTokenAge) + clockSkew,
    });
  }
}
