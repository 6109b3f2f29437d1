import type { TokenKind } from '../store/types.ts';
import type { AuthContext, Credentials } from './credentials.ts';

/** The kinds of credential Gatehouse checks; each has one Authenticator. */
export type CredentialKind = 'gatehouse' | 'oidc' | 'workload';

/**
 * One credential check: what it is given and what it proves. Every refusal is an AuthError whose
 * code says why (docs/errors.md), and no implementation puts the credential in an error or a log.
 * Callers pick the authenticator by where the credential arrived (a bearer gth_/gta_ token, an ID
 * token at /login/oidc, a workload token at /oauth2/token), never by trying one after another.
 */
export interface Authenticator<Input, Identity> {
  readonly kind: CredentialKind;
  authenticate(input: Input): Promise<Identity>;
}

/** Gatehouse's own tokens (gth_, gts_, gta_): Credentials.verify, behind the common interface. */
export class GatehouseTokenAuthenticator implements Authenticator<{ secret: string | undefined; expected: TokenKind }, AuthContext> {
  readonly kind = 'gatehouse' as const;

  constructor(private readonly credentials: Credentials) {}

  authenticate(input: { secret: string | undefined; expected: TokenKind }): Promise<AuthContext> {
    return this.credentials.verify(input.secret, input.expected);
  }
}
