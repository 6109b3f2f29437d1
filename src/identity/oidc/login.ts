import type { Logger } from 'pino';
import { AuthError, GatewayError } from '../../errors.ts';
import type { Store } from '../../store/types.ts';
import { toPrincipal, type Credentials } from '../credentials.ts';
import { principalForSignIn } from '../external-identities.ts';
import type { OidcIssuers, PublicIssuer } from './issuers.ts';
import type { OidcAuthenticator, OidcIdentity } from './oidc-authenticator.ts';
import { UsedIdTokens } from './used-id-tokens.ts';

export interface OidcLoginResult {
  /** The gta_ API token: returned once, only its hash is stored. */
  readonly token: string;
  readonly tokenId: string;
  readonly expiresAt: number;
  readonly principal: { readonly id: string; readonly name: string; readonly groups: readonly string[] };
  /** The issuer's name in config and the subject it vouched for: who signed in, for the audit record. */
  readonly issuer: string;
  readonly subject: string;
}

/**
 * Signing in with an ID token, each usable once: the person's user principal is found by the
 * account (issuer, sub) linked to it, or linked on the first sign-in (external-identities.ts), and
 * a short-lived API token issued for it. A disabled person gets nothing, whatever their provider says.
 */
export class OidcLogin {
  private readonly used: UsedIdTokens;

  constructor(
    private readonly deps: {
      readonly issuers: OidcIssuers;
      readonly authenticator: OidcAuthenticator;
      readonly store: Store;
      readonly credentials: Credentials;
      readonly logger: Logger;
      readonly now?: () => number;
    },
  ) {
    this.used = new UsedIdTokens(deps.store, () => this.now(), (err) => deps.logger.warn({ err }, 'could not prune used ID tokens; retried in a minute'));
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  publicConfig(): { issuers: PublicIssuer[] } {
    return { issuers: this.deps.issuers.publicConfig() };
  }

  async login(issuerName: string, idToken: string): Promise<OidcLoginResult> {
    const { authenticator, credentials, logger, issuers } = this.deps;
    let identity: OidcIdentity | null = null;
    try {
      identity = await authenticator.authenticate({ issuer: issuerName, idToken });
      if (identity.groupsOmitted) {
        logger.warn(
          { event: 'oidc.groups_omitted', issuer: identity.issuerName, user: identity.username },
          'the ID token leaves the groups out (too many; Entra ID sends at most 200): the person signs in with no groups; send only the groups assigned to the application',
        );
      }
      // Used up before anything else: a token seen again (sent twice, or copied from a log or a
      // browser) could otherwise bring back groups and sessions taken away since.
      if (!(await this.used.useOnce(identity.tokenKey, identity.usableUntil))) {
        throw new AuthError('auth_replayed', 'this ID token was used to sign in before; each is accepted once: sign in again for a new one');
      }
      const principal = await principalForSignIn(
        this.deps.store,
        { protocol: 'oidc', issuer: identity.issuer, subject: identity.subject, name: identity.username, groups: identity.groups },
        this.now(),
      );
      const { secret, token } = await credentials.issue({
        principal: toPrincipal(principal),
        kind: 'admin',
        name: `sign-in via ${identity.issuerName}`,
        connections: null,
        ttlMs: issuers.config!.sessionTtl,
      });
      logger.info(
        { event: 'oidc.login', issuer: identity.issuerName, subject: identity.subject, user: principal.name, groups: principal.groups, tokenId: token.id },
        'signed in with OIDC',
      );
      return {
        token: secret,
        tokenId: token.id,
        expiresAt: token.expiresAt!,
        principal: { id: principal.id, name: principal.name, groups: [...principal.groups] },
        issuer: identity.issuerName,
        subject: identity.subject,
      };
    } catch (err) {
      if (err instanceof GatewayError) {
        // The refusal's code and reason, and who it was for when the token got that far: never the token.
        logger.warn(
          { event: 'oidc.login_refused', issuer: issuerName.slice(0, 100), code: err.code, reason: err.message, user: identity?.username ?? null, subject: identity?.subject ?? null },
          'OIDC sign-in refused',
        );
      }
      throw err;
    }
  }
}
