import type { Logger } from 'pino';
import { AuthError, Conflict, GatewayError } from '../../errors.ts';
import type { PrincipalRow, Store } from '../../store/types.ts';
import { newId } from '../../util/ids.ts';
import { toPrincipal, type Credentials } from '../credentials.ts';
import type { OidcIssuers, PublicIssuer } from './issuers.ts';
import type { OidcAuthenticator, OidcIdentity } from './oidc-authenticator.ts';

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

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((group, i) => group === b[i]);
}

/**
 * Signing in with an ID token: the person's user principal is found (or created on first sign-in)
 * by the name the provider gives, its groups replaced by the token's, and a short-lived API token
 * issued for it. A disabled person gets nothing, whatever their provider says.
 */
export class OidcLogin {
  constructor(
    private readonly deps: {
      readonly issuers: OidcIssuers;
      readonly authenticator: OidcAuthenticator;
      readonly store: Store;
      readonly credentials: Credentials;
      readonly logger: Logger;
      readonly now?: () => number;
    },
  ) {}

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
      const principal = await this.principalFor(identity);
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

  private async principalFor(identity: OidcIdentity): Promise<PrincipalRow> {
    const { store } = this.deps;
    let row = await store.findPrincipal('user', identity.username);
    if (!row) {
      const created: PrincipalRow = {
        id: newId('usr'),
        kind: 'user',
        name: identity.username,
        groups: [...identity.groups],
        createdAt: (this.deps.now ?? Date.now)(),
        disabledAt: null,
      };
      try {
        await store.insertPrincipal(created);
        return created;
      } catch (err) {
        // Two first sign-ins at once: the other one created the principal.
        if (!(err instanceof Conflict)) throw err;
        row = await store.findPrincipal('user', identity.username);
        if (!row) throw err;
      }
    }
    if (row.disabledAt !== null) {
      throw new AuthError('auth_revoked', `user "${row.name}" is disabled in Gatehouse: ask an admin`);
    }
    if (!sameGroups(row.groups, identity.groups)) {
      await store.setPrincipalGroups(row.id, identity.groups);
      row = { ...row, groups: [...identity.groups] };
    }
    return row;
  }
}
