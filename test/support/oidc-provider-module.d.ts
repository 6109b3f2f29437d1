// The part of oidc-provider's API test/support/oidc-provider.ts uses (the package ships no types).
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type ClientMetadata = Record<string, unknown> & { client_id: string };

  export interface Interaction {
    uid: string;
  }

  export interface Configuration {
    clients?: ClientMetadata[];
    jwks?: { keys: unknown[] };
    cookies?: { keys?: string[] };
    pkce?: { required?: (ctx: unknown, client: unknown) => boolean };
    scopes?: string[];
    claims?: Record<string, string[]>;
    features?: Record<string, { enabled: boolean } & Record<string, unknown>>;
    ttl?: Record<string, number | ((...args: unknown[]) => number)>;
    enabledJWA?: Record<string, string[]>;
    interactions?: { url?: (ctx: unknown, interaction: Interaction) => string };
    findAccount?: (ctx: unknown, sub: string) => { accountId: string; claims: () => Record<string, unknown> } | undefined;
    loadExistingGrant?: ((ctx: unknown) => unknown) | undefined;
    [key: string]: unknown;
  }

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId: string };
    grantId?: string;
  }

  interface IdTokenInstance {
    set(key: string, value: unknown): void;
    issue(options: { use: 'idtoken'; expiresAt?: number | null }): Promise<string>;
  }

  interface GrantInstance {
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: any[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    IdToken: new (claims: Record<string, unknown>, options: { client: unknown }) => IdTokenInstance;
    Client: { find(id: string): Promise<unknown | undefined> };
    Grant: { new (init: { accountId: string; clientId: string }): GrantInstance; find(id: string): Promise<GrantInstance | undefined> };
  }
}

declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  /** A factory oidc-provider accepts as its `adapter`, keeping its data in a store of its own. */
  export function createMemoryAdapter(clockTolerance?: number): (model: string) => unknown;
}
