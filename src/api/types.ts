/** The API's shared types, apart from server.ts so route files and the plugin do not import each other. */
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Credentials } from '../identity/credentials.ts';
import type { CredentialWatch } from '../identity/credential-watch.ts';
import type { ServiceAccounts } from '../identity/service-accounts.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import type { Store } from '../store/types.ts';

export interface ApiDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly serviceAccounts: ServiceAccounts;
  readonly watch: CredentialWatch;
  readonly connections: ConnectionRegistry;
}

/** The API's Fastify scope: route schemas are zod, so handlers get typed params, query, body and replies. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

