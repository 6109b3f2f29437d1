import { createRemoteJWKSet, type FlattenedJWSInput, type JWSHeaderParameters, type RemoteJWKSet, type CryptoKey } from 'jose';
import type { Logger } from 'pino';
import { AuthError } from '../../errors.ts';

export interface IssuerKeysOptions {
  /** Milliseconds since the epoch; injected so tests never wait. */
  readonly now?: () => number;
  /** Least time between two key-set fetches caused by an unknown `kid` (what an attacker can make us do). */
  readonly refetchCooldownMs?: number;
  /** After a failed discovery, the wait before the next attempt; doubles up to maxRetryMs. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** Each fetch (discovery document, key set) gives up after this long. */
  readonly timeoutMs?: number;
  /** How long a fetched key set is used before it is fetched again anyway. */
  readonly cacheMaxAgeMs?: number;
}

const DEFAULTS = { refetchCooldownMs: 10_000, retryMs: 1_000, maxRetryMs: 60_000, timeoutMs: 5_000, cacheMaxAgeMs: 10 * 60_000 };
const MAX_DISCOVERY_BYTES = 512 * 1024;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function secureUrl(text: unknown): URL | null {
  if (typeof text !== 'string' || !URL.canParse(text)) return null;
  const url = new URL(text);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) return url;
  return null;
}

/** The discovery document's URL: the issuer with /.well-known/openid-configuration appended (OIDC Discovery §4). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

function unavailable(issuer: string, why: string): AuthError {
  return new AuthError('auth_issuer_unavailable', `cannot verify tokens of issuer ${issuer} yet: ${why}; the gateway retries, try again shortly`, {
    details: { issuer },
  });
}

/**
 * One issuer's signing keys. Discovery is lazy: nothing is fetched until a token of this issuer
 * arrives (or warm() runs at start, whose failure is only logged), so an unreachable provider
 * never stops the gateway; failed attempts are retried with a doubling pause. The key set is
 * jose's remote JWKS, fetched again when a token names a kid it lacks (key rotation) at most
 * once per cooldown, so a flood of made-up kids cannot turn into a flood of fetches.
 */
export class IssuerKeys {
  private jwks: RemoteJWKSet | null = null;
  private discovering: Promise<RemoteJWKSet> | null = null;
  private failures = 0;
  private retryAt = 0;
  private lastError = '';
  private lastUnknownKidFetch = -Infinity;
  private readonly options: typeof DEFAULTS & { now: () => number };

  constructor(
    readonly issuer: string,
    private readonly jwksUri: string | undefined,
    private readonly logger: Logger,
    options: IssuerKeysOptions = {},
  ) {
    this.options = { ...DEFAULTS, now: Date.now, ...options };
  }

  /** Starts discovery in the background; a failure is logged and retried on the next token. */
  warm(): void {
    this.keySet().catch(() => undefined);
  }

  /** A jose key resolver: `jwtVerify(token, keys.resolver, …)`. */
  readonly resolver = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const jwks = await this.keySet();
    const cached = jwks.jwks();
    const known = cached !== undefined && (header.kid === undefined || cached.keys.some((key) => key.kid === header.kid));
    if (!known && cached !== undefined) {
      const now = this.options.now();
      if (now - this.lastUnknownKidFetch < this.options.refetchCooldownMs) {
        throw new AuthError('auth_unknown_key', `the token's signing key is not among the keys issuer ${this.issuer} publishes`);
      }
      this.lastUnknownKidFetch = now;
      // Our own cooldown (on the injectable clock) decides when an unknown kid fetches the set again.
      await jwks.reload().catch((err: unknown) => {
        throw unavailable(this.issuer, `its key set could not be fetched (${describe(err)})`);
      });
    }
    return jwks(header, token);
  };

  private async keySet(): Promise<RemoteJWKSet> {
    if (this.jwks) return this.jwks;
    if (this.discovering) return this.discovering;
    if (this.options.now() < this.retryAt) throw unavailable(this.issuer, this.lastError);
    this.discovering = this.discover()
      .then((jwks) => {
        this.jwks = jwks;
        if (this.failures > 0) this.logger.info({ issuer: this.issuer }, 'OIDC issuer reachable again: its tokens are verified');
        this.failures = 0;
        return jwks;
      })
      .catch((err: unknown) => {
        this.failures += 1;
        const pause = Math.min(this.options.retryMs * 2 ** (this.failures - 1), this.options.maxRetryMs);
        this.retryAt = this.options.now() + pause;
        this.lastError = err instanceof AuthError ? err.message : describe(err);
        this.logger.warn(
          { issuer: this.issuer, attempt: this.failures, retryInMs: pause, reason: this.lastError },
          'OIDC issuer discovery failed: tokens of this issuer are refused (auth_issuer_unavailable) until it answers; the gateway keeps running',
        );
        throw unavailable(this.issuer, this.lastError);
      })
      .finally(() => {
        this.discovering = null;
      });
    return this.discovering;
  }

  private async discover(): Promise<RemoteJWKSet> {
    const uri = this.jwksUri ?? (await this.jwksUriFromDiscovery());
    const url = secureUrl(uri);
    if (!url) throw new Error(`jwks_uri ${JSON.stringify(uri)} is not an https URL`);
    const jwks = createRemoteJWKSet(url, {
      // Bounds jose's own refetch (a token without kid, or whose kid names a key of another type).
      cooldownDuration: this.options.refetchCooldownMs,
      cacheMaxAge: this.options.cacheMaxAgeMs,
      timeoutDuration: this.options.timeoutMs,
    });
    // Fetch now, so that an unreachable key set is reported as the issuer being unavailable.
    await jwks.reload();
    return jwks;
  }

  private async jwksUriFromDiscovery(): Promise<string> {
    const where = discoveryUrl(this.issuer);
    const res = await fetch(where, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`${where} answered HTTP ${res.status}`);
    }
    const text = await res.text();
    if (text.length > MAX_DISCOVERY_BYTES) throw new Error(`${where} is larger than ${MAX_DISCOVERY_BYTES} bytes`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error(`${where} is not JSON`);
    }
    const { issuer, jwks_uri } = (doc ?? {}) as Record<string, unknown>;
    // OIDC Discovery §4.3: the document must name exactly the issuer it was fetched for.
    if (issuer !== this.issuer) {
      throw new Error(`the provider calls itself ${JSON.stringify(issuer)}, not ${JSON.stringify(this.issuer)}: write its issuer exactly so in the config`);
    }
    if (typeof jwks_uri !== 'string') throw new Error(`${where} names no jwks_uri`);
    return jwks_uri;
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return cause ? `${err.message} (${cause})` : err.message;
  }
  return String(err);
}
