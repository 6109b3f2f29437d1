import type { Logger } from 'pino';
import type { OidcConfig, OidcIssuerConfig } from '../../config/identity-oidc.ts';
import { IssuerKeys, type IssuerKeysOptions } from './issuer-keys.ts';

/**
 * The key sets of every issuer Gatehouse trusts, one per issuer URL and key-set URL, shared by
 * sign-in (identity.oidc) and workload federation (identity.workload) when both name one issuer.
 */
export class IssuerDirectory {
  private readonly byIssuer = new Map<string, IssuerKeys>();

  constructor(
    private readonly logger: Logger,
    private readonly options: IssuerKeysOptions = {},
  ) {}

  keysFor(issuer: string, jwksUri?: string): IssuerKeys {
    const key = `${issuer}\n${jwksUri ?? ''}`;
    let keys = this.byIssuer.get(key);
    if (!keys) {
      keys = new IssuerKeys(issuer, jwksUri, this.logger, this.options);
      this.byIssuer.set(key, keys);
    }
    return keys;
  }

  /** Starts discovery of every issuer in the background; failures are logged, never thrown. */
  warmAll(): void {
    for (const keys of this.byIssuer.values()) keys.warm();
  }
}

/** What a CLI or the console needs to start a sign-in with an issuer: never the client secret. */
export interface PublicIssuer {
  readonly name: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
}

/** identity.oidc.issuers by name. */
export class OidcIssuers {
  private readonly byName: ReadonlyMap<string, OidcIssuerConfig>;

  constructor(readonly config: OidcConfig | undefined) {
    this.byName = new Map((config?.issuers ?? []).map((issuer) => [issuer.name, issuer]));
  }

  get(name: string): OidcIssuerConfig | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  publicConfig(): PublicIssuer[] {
    return [...this.byName.values()].map(({ name, issuer, clientId, scopes }) => ({ name, issuer, clientId, scopes: [...scopes] }));
  }
}
