/** The API's shared types, apart from server.ts so route files and the plugin do not import each other. */
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AuthContext, Credentials } from '../identity/credentials.ts';
import type { Role, RoleGrant } from '../identity/roles.ts';
import type { Logger } from 'pino';
import type { Coordination } from '../store/coordination.ts';
import type { ServiceAccounts } from '../identity/service-accounts.ts';
import type { OidcLogin } from '../identity/oidc/login.ts';
import type { WorkloadExchange } from '../identity/workload-exchange.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import type { Store } from '../store/types.ts';
import type { SamlServiceProvider } from '../identity/saml/service-provider.ts';
import type { Approvals } from '../approvals/service.ts';
import type { Grants } from '../approvals/grants.ts';

export interface ApiDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly serviceAccounts: ServiceAccounts;
  /** Changes that every replica must apply (revocations, connections) are published here, never applied locally only. */
  readonly coordination: Coordination;
  readonly connections: ConnectionRegistry;
  /** Sign-in with an OIDC ID token (identity.oidc); answers that no issuer is configured when it is off. */
  readonly oidcLogin: OidcLogin;
  /** RFC 8693 token exchange for workloads (identity.workload). */
  readonly workloadExchange: WorkloadExchange;
  /** identity.roles as configured now (a reload swaps it); read on every call. */
  readonly roleGrants: () => readonly RoleGrant[];
  /** Where the API reports what it cannot tell the caller (an audit row it failed to complete). */
  readonly logger?: Logger;
  /** SAML sign-in (identity.saml); its routes exist only when it is configured. */
  readonly saml?: SamlServiceProvider;
  /** Held requests and their decisions (approvals/). */
  readonly approvals: Approvals;
  /** Just-in-time access requests and the grants they yield (approvals/grants.ts). */
  readonly grants?: Grants;
  /** The tamper-evident trail: verify, checkpoints, the public key (audit/trail.ts). */
  readonly auditTrail?: import('../audit/trail.ts').AuditTrail;
  /** The agent inventory (inventory/); its routes exist only when set. */
  readonly inventory?: import('../inventory/service.ts').Inventory;
  /** Derives S3 secrets from access key ids (api/s3-credentials.ts); its routes exist only when set. */
  readonly s3Key?: import('../adapters/s3/credential-key.ts').S3CredentialKey;
  /** Pinning an MCP connection's tools directly, and reading its pins (adapters/mcp/pin-admin.ts). */
  readonly mcpPins?: import('../adapters/mcp/pin-admin.ts').McpPinAdmin;
}

/** Who is calling the admin API and what they may do, resolved per request (server.ts). */
export interface Caller {
  /** The token and the principal as the store holds it now (groups included). */
  readonly auth: AuthContext;
  readonly roles: readonly Role[];
  /** Connections the caller's user grants let it issue its own tokens for. */
  readonly connections: readonly string[];
  /** The bootstrap identity: its every call is recorded (audit/admin-actions.ts). */
  readonly breakGlass: boolean;
}

/** The API's Fastify scope: route schemas are zod, so handlers get typed params, query, body and replies. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;


declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API's onRequest hook on every route that takes an API token. */
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route besides admin (which may do everything); absent means admin only. */
    allow?: readonly Role[];
  }
}
