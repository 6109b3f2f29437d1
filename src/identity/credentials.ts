import { AuthError, ForbiddenError, InvalidArgument } from '../errors.ts';
import type { CredentialInfo, Principal } from '../interaction.ts';
import { hashToken } from '../store/secret-box.ts';
import type { AgentRow, PrincipalRow, Store, TokenKind, TokenRow } from '../store/types.ts';
import { agentForIssue } from '../inventory/attach.ts';
import { formatDuration } from '../util/durations.ts';
import { newId } from '../util/ids.ts';
import { generateSecret, secretKind, TOKEN_PREFIX } from './token-format.ts';
import { newScramSalt, SCRAM_ITERATIONS, scramKeys } from './scram-keys.ts';

export interface AuthContext {
  readonly principal: Principal;
  readonly credential: CredentialInfo;
}

export interface CredentialLimits {
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  /** How long a verified token may be trusted from memory (revocations on this node apply at once). */
  readonly cacheTtlMs: number;
  /** Per-group lifetime caps from policy; null when policy sets none. */
  readonly maxTtlForGroups: (groups: readonly string[]) => number | null;
}

interface CacheEntry {
  readonly auth: AuthContext;
  readonly revokedCheckAt: number;
}

export function toPrincipal(row: PrincipalRow): Principal {
  return Object.freeze({ id: row.id, kind: row.kind, name: row.name, groups: Object.freeze([...row.groups]) });
}

export function toCredentialInfo(row: TokenRow, agent: AgentRow | null = null): CredentialInfo {
  return Object.freeze({
    tokenId: row.id,
    kind: row.kind,
    name: row.name,
    connections: row.connections ? Object.freeze([...row.connections]) : null,
    issuedAt: row.createdAt,
    expiresAt: row.expiresAt,
    agent: agent ? Object.freeze({ id: agent.id, name: agent.name, owner: agent.owner, labels: Object.freeze({ ...agent.labels }) }) : null,
  });
}

const HOW_TO_SEND = 'send a Gatehouse token as "Authorization: Bearer gth_…" (or the x-api-key header)';

/** Issues, verifies and revokes Gatehouse's own credentials. Only hashes reach the store. */
export class Credentials {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: Store,
    private readonly limits: CredentialLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Verifies a token of the expected kind. Every failure is an AuthError with a code a client can act on. */
  async verify(secret: string | undefined, expected: TokenKind): Promise<AuthContext> {
    if (!secret) throw new AuthError('auth_missing', `no credential: ${HOW_TO_SEND}`);
    const claimed = secretKind(secret);
    if (claimed !== expected) throw wrongKind(claimed, expected);
    const hash = hashToken(secret);
    const now = this.now();
    const cached = this.cache.get(hash);
    if (cached && cached.revokedCheckAt > now) return this.checkLive(cached.auth, now);

    const row = await this.store.getTokenByHash(hash);
    if (!row || row.kind !== expected) throw unknownToken();
    return this.verifyRow(row, hash, now);
  }

  /**
   * A token the client proved it holds without sending it (a SCRAM proof matched its verifier):
   * every check a sent token gets, with the same errors.
   */
  async verifyProven(tokenId: string, expected: TokenKind): Promise<AuthContext> {
    const row = await this.store.getToken(tokenId);
    if (!row || row.kind !== expected) throw unknownToken();
    return this.verifyRow(row, row.hash, this.now());
  }

  private async verifyRow(row: TokenRow, hash: string, now: number): Promise<AuthContext> {
    if (row.revokedAt !== null) throw new AuthError('auth_revoked', `token ${row.id} was revoked; ask for a new one`);
    const principalRow = await this.store.getPrincipal(row.principalId);
    if (!principalRow || principalRow.disabledAt !== null) {
      throw new AuthError('auth_revoked', `the identity behind token ${row.id} is disabled`);
    }
    const agent = row.agentId ? await this.store.getAgent(row.agentId) : null;
    const auth: AuthContext = { principal: toPrincipal(principalRow), credential: toCredentialInfo(row, agent) };
    this.cache.set(hash, { auth, revokedCheckAt: now + this.limits.cacheTtlMs });
    if (this.cache.size > 100_000) this.cache.delete(this.cache.keys().next().value as string);
    return this.checkLive(auth, now);
  }

  private checkLive(auth: AuthContext, now: number): AuthContext {
    const { expiresAt, tokenId } = auth.credential;
    if (expiresAt !== null && expiresAt <= now) {
      throw new AuthError('auth_expired', `token ${tokenId} expired at ${new Date(expiresAt).toISOString()}; ask for a new one`);
    }
    return auth;
  }

  /** Scope check: a token names the connections it may reach. */
  authorizeConnection(auth: AuthContext, connection: string): void {
    const allowed = auth.credential.connections;
    if (allowed !== null && !allowed.includes(connection)) {
      throw new ForbiddenError(
        'forbidden_connection',
        `token ${auth.credential.tokenId} is not scoped to connection "${connection}" (it may use: ${allowed.join(', ') || 'none'})`,
      );
    }
  }

  /** Clamp-free: a lifetime over the cap is refused so nobody believes they hold a longer one. */
  resolveTtl(requestedMs: number | undefined, groups: readonly string[]): number {
    const cap = Math.min(this.limits.maxTtlMs, this.limits.maxTtlForGroups(groups) ?? Infinity);
    const ttl = requestedMs ?? Math.min(this.limits.defaultTtlMs, cap);
    if (!(ttl > 0)) throw new InvalidArgument('token lifetime must be positive');
    if (ttl > cap) {
      throw new InvalidArgument(`token lifetime ${formatDuration(ttl)} exceeds the allowed maximum of ${formatDuration(cap)}`, {
        details: { maxTtlMs: cap },
      });
    }
    return ttl;
  }

  async issue(input: {
    principal: Principal;
    kind: TokenKind;
    name: string;
    connections: readonly string[] | null;
    ttlMs: number | null;
    parentId?: string | null;
    /** The agent (`--agent`); left out, agentForIssue picks it. */
    agentId?: string | null;
  }): Promise<{ secret: string; token: TokenRow }> {
    const prefix = TOKEN_PREFIX[input.kind];
    const secret = generateSecret(prefix);
    const now = this.now();
    const agent = await agentForIssue(this.store, input, now);
    const token: TokenRow = {
      id: newId('tok'),
      hash: hashToken(secret),
      kind: input.kind,
      principalId: input.principal.id,
      name: input.name,
      connections: input.connections ? [...input.connections] : null,
      createdAt: now,
      expiresAt: input.ttlMs === null ? null : now + input.ttlMs,
      revokedAt: null,
      parentId: input.parentId ?? null,
      ...(agent ? { agentId: agent.id } : {}),
    };
    await this.store.insertToken(token);
    // Agent tokens are the ones PostgreSQL logins take; a verifier that fails to store leaves the token cleartext-only.
    if (input.kind === 'agent') await this.storeScramVerifier(token, secret);
    return { secret, token };
  }

  private async storeScramVerifier(token: TokenRow, secret: string): Promise<void> {
    const { salt, iterations } = await this.store.scramSalt(token.principalId, {
      salt: newScramSalt().toString('base64'),
      iterations: SCRAM_ITERATIONS,
    });
    const keys = await scramKeys(secret, Buffer.from(salt, 'base64'), iterations);
    await this.store.insertScramVerifier({
      tokenId: token.id,
      principalId: token.principalId,
      salt,
      iterations,
      storedKey: keys.storedKey.toString('base64'),
      serverKey: keys.serverKey.toString('base64'),
      createdAt: token.createdAt,
    });
  }

  async revoke(tokenId: string): Promise<string[]> {
    const ids = await this.store.revokeToken(tokenId, this.now());
    this.forget(ids);
    return ids;
  }

  async revokePrincipal(principalId: string): Promise<string[]> {
    const ids = await this.store.revokePrincipalTokens(principalId, this.now());
    this.forget(ids);
    return ids;
  }

  /** Drops cached verifications of these tokens (revoked here or, through an event, on another replica). */
  forget(tokenIds: readonly string[]): void {
    if (tokenIds.length === 0) return;
    const gone = new Set(tokenIds);
    for (const [hash, entry] of this.cache) if (gone.has(entry.auth.credential.tokenId)) this.cache.delete(hash);
  }

  /** Drops every cached verification of one principal, so a disabled person is refused on their next request. */
  forgetPrincipal(principalId: string): void {
    for (const [hash, entry] of this.cache) if (entry.auth.principal.id === principalId) this.cache.delete(hash);
  }
}

/** The refusal of a token nobody issued, also for a SCRAM proof no verifier matches: a guess learns nothing more. */
export function unknownToken(): AuthError {
  return new AuthError('auth_invalid', `unknown or malformed token: ${HOW_TO_SEND}`);
}

function wrongKind(claimed: ReturnType<typeof secretKind>, expected: TokenKind): AuthError {
  if (claimed === 'service_account' && expected === 'agent') {
    return new AuthError(
      'auth_wrong_kind',
      'service-account secrets (gts_) cannot reach targets; exchange one for a short-lived gth_ token at POST /api/v1/token/exchange (gatehouse token exchange)',
    );
  }
  if (claimed === 'admin') return new AuthError('auth_wrong_kind', 'admin tokens (gta_) only work on the admin API');
  if (claimed === 'scim') return new AuthError('auth_wrong_kind', 'SCIM tokens (gsc_) only work on /scim/v2, for an identity provider');
  if (expected === 'scim') return new AuthError(claimed === null ? 'auth_invalid' : 'auth_wrong_kind', 'SCIM needs a token from `gatehouse scim token create` (gsc_…) as "Authorization: Bearer …"');
  if (claimed === 'agent') return new AuthError('auth_wrong_kind', 'agent tokens (gth_) only work on the data plane (/proxy, Postgres, MCP)');
  if (expected === 'admin') return new AuthError('auth_invalid', 'the admin API needs an admin token (gta_…) as "Authorization: Bearer …"');
  return new AuthError('auth_invalid', `not a Gatehouse token: ${HOW_TO_SEND}`);
}

