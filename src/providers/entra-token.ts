/**
 * Entra ID (Azure AD) access tokens for azure-openai connections, obtained by the gateway with
 * the OAuth 2.0 client-credentials grant (RFC 6749 §4.4) and kept until shortly before they
 * expire. Concurrent requests share one fetch; a token still valid is used while a refresh
 * fails. The client secret never leaves this module except in the grant's form body.
 */
import { UpstreamError } from '../errors.ts';

export interface EntraCredential {
  readonly tenant: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  readonly tokenUrl?: string | undefined;
}

export interface EntraTokenOptions {
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  /** Refresh this long before expiry (and never later than two thirds of the lifetime). */
  readonly refreshBeforeMs?: number;
  readonly timeoutMs?: number;
}

interface Cached {
  readonly token: string;
  readonly obtainedAt: number;
  readonly expiresAt: number;
}

export function tokenUrlOf(credential: EntraCredential): string {
  return credential.tokenUrl ?? `https://login.microsoftonline.com/${encodeURIComponent(credential.tenant)}/oauth2/v2.0/token`;
}

export class EntraTokens {
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Cached>>();
  private readonly now: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly refreshBeforeMs: number;
  private readonly timeoutMs: number;

  constructor(options: EntraTokenOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fetchFn = options.fetch ?? fetch;
    this.refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** A bearer token for the credential, fetched or refreshed when due. */
  async token(credential: EntraCredential): Promise<string> {
    // The secret is part of the key: a rotated secret is a new token, never the old one's cache.
    const key = JSON.stringify([tokenUrlOf(credential), credential.clientId, credential.scope, credential.clientSecret]);
    const cached = this.cache.get(key);
    const at = this.now();
    if (cached !== undefined && at < this.refreshAt(cached)) return cached.token;
    let fetching = this.pending.get(key);
    if (fetching === undefined) {
      fetching = this.fetchToken(credential).finally(() => this.pending.delete(key));
      this.pending.set(key, fetching);
    }
    try {
      const fresh = await fetching;
      this.cache.set(key, fresh);
      return fresh.token;
    } catch (err) {
      if (cached !== undefined && this.now() < cached.expiresAt) return cached.token;
      throw err;
    }
  }

  private refreshAt(c: Cached): number {
    const lifetime = c.expiresAt - c.obtainedAt;
    return Math.min(c.expiresAt - this.refreshBeforeMs, c.obtainedAt + (lifetime * 2) / 3);
  }

  private async fetchToken(credential: EntraCredential): Promise<Cached> {
    const url = tokenUrlOf(credential);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: credential.clientId, client_secret: credential.clientSecret, scope: credential.scope });
    const obtainedAt = this.now();
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new UpstreamError('upstream_credential', `could not reach the Entra ID token endpoint ${url}`, { cause: err });
    }
    const text = await response.text().catch(() => '');
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // reported below by what is missing
    }
    if (!response.ok || typeof body.access_token !== 'string' || body.access_token === '') {
      // Entra's `error` code (invalid_client, unauthorized_client …) says what to fix; its description may quote input, so it is left out.
      const code = typeof body.error === 'string' && /^[a-z_]{1,64}$/.test(body.error) ? ` (${body.error})` : '';
      throw new UpstreamError('upstream_credential', `the Entra ID token endpoint ${url} refused the client-credentials grant: HTTP ${response.status}${code}`);
    }
    const type = typeof body.token_type === 'string' ? body.token_type.toLowerCase() : 'bearer';
    if (type !== 'bearer') throw new UpstreamError('upstream_credential', `the Entra ID token endpoint ${url} returned a ${type} token; a bearer token is needed`);
    const seconds = Number(body.expires_in);
    const lifetime = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 3600_000;
    return { token: body.access_token, obtainedAt, expiresAt: obtainedAt + lifetime };
  }
}
