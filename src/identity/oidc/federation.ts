import type { Logger } from 'pino';
import type { OidcConfig, WorkloadConfig } from '../../config/identity-oidc.ts';
import type { Store } from '../../store/types.ts';
import type { Credentials } from '../credentials.ts';
import { WorkloadAuthenticator, WorkloadExchange } from '../workload-exchange.ts';
import type { IssuerKeysOptions } from './issuer-keys.ts';
import { IssuerDirectory, OidcIssuers } from './issuers.ts';
import { OidcAuthenticator } from './oidc-authenticator.ts';
import { OidcLogin } from './login.ts';

export interface Federation {
  readonly oidcLogin: OidcLogin;
  readonly workloadExchange: WorkloadExchange;
}

/**
 * Sign-in (identity.oidc) and workload federation (identity.workload), built at start from config.
 * Every configured issuer is discovered in the background: one that cannot be reached is logged and
 * retried when a token of it arrives, and the gateway starts regardless.
 */
export function createFederation(input: {
  readonly oidc: OidcConfig | undefined;
  readonly workload: WorkloadConfig | undefined;
  readonly store: Store;
  readonly credentials: Credentials;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly keys?: IssuerKeysOptions;
}): Federation {
  const { store, credentials, logger, now } = input;
  const directory = new IssuerDirectory(logger, { ...input.keys, ...(now ? { now } : {}) });
  const issuers = new OidcIssuers(input.oidc);
  const oidcLogin = new OidcLogin({ issuers, authenticator: new OidcAuthenticator(issuers, directory, now), store, credentials, logger, now });
  const workloadExchange = new WorkloadExchange({ authenticator: new WorkloadAuthenticator(input.workload, directory, now), store, credentials, logger, now });
  directory.warmAll();
  return { oidcLogin, workloadExchange };
}
