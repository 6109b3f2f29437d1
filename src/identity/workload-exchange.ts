import type { Logger } from 'pino';
import { AuthError, ForbiddenError, GatewayError, InvalidArgument } from '../errors.ts';
import { ASYMMETRIC_ALGORITHMS, type WorkloadConfig, type WorkloadTrustConfig } from '../config/identity-oidc.ts';
import type { Store, TokenRow } from '../store/types.ts';
import { formatDuration } from '../util/durations.ts';
import type { Authenticator } from './authenticator.ts';
import { toPrincipal, type Credentials } from './credentials.ts';
import type { IssuerDirectory } from './oidc/issuers.ts';
import { inspectJwt, verifyJwt, type VerifiedClaims } from './oidc/jwt-verifier.ts';
import { audienceMatches, unmetCondition } from './workload-trust.ts';

/** A workload (a CI job, a pod) as a trust in identity.workload admits it. */
export interface WorkloadIdentity {
  readonly trust: WorkloadTrustConfig;
  readonly issuer: string;
  readonly subject: string;
  readonly expiresAt: number;
}

/** Why a verified token met no trust; logged for the admin, never told to the caller (it would show the trust's conditions). */
class ConditionsUnmet extends AuthError {
  constructor(
    issuer: string,
    readonly unmet: readonly { trust: string; claim: string; got: string }[],
  ) {
    super(
      'auth_conditions_unmet',
      `the token's claims meet the conditions of no trust for issuer ${issuer} (identity.workload.trust); the gateway log names the condition that failed`,
    );
  }
}

/** Trusts that share an issuer and a key set: a token verified under that key set may match only them. */
interface KeyGroup {
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  readonly trusts: readonly WorkloadTrustConfig[];
}

/**
 * Of the refusals of several key sets, the one to report: one about the token itself (expired,
 * wrong audience …) tells the caller most, then a key set that could not be fetched (worth a
 * retry), then a known key whose signature failed (forged), last a key no set publishes.
 */
const RANK: Readonly<Record<string, number>> = { auth_unknown_key: 0, auth_bad_signature: 1, auth_issuer_unavailable: 2 };
function telling(err: unknown): number {
  return err instanceof AuthError ? (RANK[err.code] ?? 3) : 3;
}

/**
 * Verifies a workload's own token and finds the first trust (in config order) its issuer, audience
 * and claims meet. Trusts are grouped by issuer and key set (jwksUri, or discovery): two Kubernetes
 * clusters both calling themselves https://kubernetes.default.svc sign with different keys, and a
 * token is tried against each group's keys and matched only against the trusts of the group whose
 * keys verified it, so one cluster cannot mint a token for the other's service accounts.
 */
export class WorkloadAuthenticator implements Authenticator<{ token: string }, WorkloadIdentity> {
  readonly kind = 'workload' as const;
  private readonly groups: readonly KeyGroup[];

  constructor(
    private readonly config: WorkloadConfig | undefined,
    private readonly directory: IssuerDirectory,
    private readonly now: () => number = Date.now,
  ) {
    const groups = new Map<string, { issuer: string; jwksUri: string | undefined; trusts: WorkloadTrustConfig[] }>();
    for (const trust of config?.trust ?? []) {
      directory.keysFor(trust.issuer, trust.jwksUri);
      const key = `${trust.issuer}\n${trust.jwksUri ?? ''}`;
      const group = groups.get(key) ?? { issuer: trust.issuer, jwksUri: trust.jwksUri, trusts: [] };
      group.trusts.push(trust);
      groups.set(key, group);
    }
    this.groups = [...groups.values()];
  }

  async authenticate(input: { token: string }): Promise<WorkloadIdentity> {
    const { header, payload } = inspectJwt(input.token);
    const iss = payload.iss;
    const groups = this.groups.filter((group) => group.issuer === iss);
    if (groups.length === 0) {
      const shown = typeof iss === 'string' ? JSON.stringify(iss.slice(0, 200)) : 'no issuer (iss)';
      throw new AuthError('auth_unknown_issuer', `no workload trust names the token's issuer ${shown} (identity.workload.trust, compared exactly)`);
    }
    const alg = header.alg as string;
    const unmet: { trust: string; claim: string; got: string }[] = [];
    let failure: unknown = null;
    for (const group of groups) {
      let claims: VerifiedClaims;
      try {
        claims = await this.verify(input.token, group);
      } catch (err) {
        if (failure === null || telling(err) > telling(failure)) failure = err;
        continue;
      }
      const matched = firstMatch(group.trusts, claims, alg, unmet);
      if (matched) return Object.freeze({ trust: matched, issuer: claims.iss, subject: claims.sub, expiresAt: claims.exp * 1000 });
    }
    if (unmet.length > 0 || failure === null) throw new ConditionsUnmet(groups[0]!.issuer, unmet);
    throw failure;
  }

  private verify(token: string, group: KeyGroup): Promise<VerifiedClaims> {
    const everyAlgorithm = group.trusts.some((trust) => !trust.algorithms);
    return verifyJwt(token, this.directory.keysFor(group.issuer, group.jwksUri), {
      issuer: group.issuer,
      audiences: [...new Set(group.trusts.flatMap((trust) => trust.audience))],
      algorithms: everyAlgorithm ? undefined : [...new Set(group.trusts.flatMap((trust) => trust.algorithms ?? ASYMMETRIC_ALGORITHMS))],
      clockSkewMs: this.config!.clockSkew,
      now: this.now(),
    });
  }
}

/** The first of these trusts (all verified under one key set) whose audience, algorithm and conditions the token meets. */
function firstMatch(
  trusts: readonly WorkloadTrustConfig[],
  claims: VerifiedClaims,
  alg: string,
  unmet: { trust: string; claim: string; got: string }[],
): WorkloadTrustConfig | null {
  for (const trust of trusts) {
    if (!audienceMatches(claims.aud, trust.audience)) {
      unmet.push({ trust: trust.name, claim: 'aud', got: '(another audience)' });
      continue;
    }
    if (trust.algorithms && !trust.algorithms.includes(alg as never)) {
      unmet.push({ trust: trust.name, claim: '(alg)', got: alg });
      continue;
    }
    const failed = unmetCondition(claims, trust);
    if (failed) {
      unmet.push({ trust: trust.name, ...failed });
      continue;
    }
    return trust;
  }
  return null;
}

export interface WorkloadExchangeResult {
  /** The gth_ token: returned once, only its hash is stored. */
  readonly secret: string;
  readonly token: TokenRow;
  readonly trust: string;
  readonly serviceAccount: string;
  readonly connections: readonly string[];
  readonly ttlMs: number;
}

/**
 * OAuth 2.0 Token Exchange (RFC 8693) for workloads: a CI job's own short-lived token, verified and
 * matched to a trust, buys a gth_ token for the trust's service account, so the job holds no
 * static secret. The token is never wider than the service account nor longer-lived than it.
 */
export class WorkloadExchange {
  constructor(
    private readonly deps: {
      readonly authenticator: WorkloadAuthenticator;
      readonly store: Store;
      readonly credentials: Credentials;
      readonly logger: Logger;
      readonly now?: () => number;
    },
  ) {}

  async exchange(input: { subjectToken: string; connections?: readonly string[] }): Promise<WorkloadExchangeResult> {
    const { logger } = this.deps;
    let identity: WorkloadIdentity | null = null;
    try {
      identity = await this.deps.authenticator.authenticate({ token: input.subjectToken });
      const result = await this.issue(identity, input.connections);
      logger.info(
        {
          event: 'workload.exchange',
          trust: result.trust,
          serviceAccount: result.serviceAccount,
          subject: identity.subject,
          tokenId: result.token.id,
          connections: result.connections,
          ttlMs: result.ttlMs,
        },
        'workload token exchanged for a gth_ token',
      );
      return result;
    } catch (err) {
      if (err instanceof GatewayError) {
        logger.warn(
          {
            event: 'workload.exchange_refused',
            code: err.code,
            reason: err.message,
            trust: identity?.trust.name ?? null,
            subject: identity?.subject ?? null,
            ...(err instanceof ConditionsUnmet ? { unmet: err.unmet } : {}),
          },
          'workload token exchange refused',
        );
      }
      throw err;
    }
  }

  private async issue(identity: WorkloadIdentity, requested: readonly string[] | undefined): Promise<WorkloadExchangeResult> {
    const { store, credentials } = this.deps;
    const now = (this.deps.now ?? Date.now)();
    const { trust } = identity;
    const account = await store.getServiceAccount(trust.serviceAccount);
    if (!account) throw new AuthError('auth_revoked', `trust "${trust.name}" maps to service account "${trust.serviceAccount}", which does not exist: ask an admin`);
    if (account.disabledAt !== null) throw new AuthError('auth_revoked', `service account "${account.name}" is disabled`);
    const remaining = account.expiresAt - now;
    if (remaining <= 0) throw new AuthError('auth_revoked', `service account "${account.name}" expired; ask its owner to renew it`);
    const principal = await store.getPrincipal(account.id);
    if (!principal || principal.disabledAt !== null) throw new AuthError('auth_revoked', `service account "${account.name}" is disabled`);

    const allowed = trust.connections ? trust.connections.filter((c) => account.connections.includes(c)) : account.connections;
    const wanted = requested && requested.length > 0 ? [...new Set(requested)] : allowed;
    const outside = wanted.filter((c) => !allowed.includes(c));
    if (outside.length > 0) {
      throw new ForbiddenError('forbidden_connection', `trust "${trust.name}" does not reach: ${outside.map((c) => c.slice(0, 100)).join(', ')}`);
    }
    if (wanted.length === 0) throw new ForbiddenError('forbidden_connection', `trust "${trust.name}" reaches no connection of service account "${account.name}"`);

    const ttlMs = this.lifetime(Math.min(trust.ttl, remaining), principal.groups);
    const { secret, token } = await credentials.issue({
      principal: toPrincipal(principal),
      kind: 'agent',
      name: `${account.name} (workload ${trust.name})`,
      connections: wanted,
      ttlMs,
    });
    return { secret, token, trust: trust.name, serviceAccount: account.name, connections: wanted, ttlMs };
  }

  /** The trust's lifetime, shortened to what identity.tokens.maxTtl and policy allow the account's groups. */
  private lifetime(wantedMs: number, groups: readonly string[]): number {
    try {
      return this.deps.credentials.resolveTtl(wantedMs, groups);
    } catch (err) {
      const cap = err instanceof InvalidArgument ? err.details.maxTtlMs : undefined;
      if (typeof cap === 'number' && cap > 0) return cap;
      throw new InvalidArgument(`cannot issue a token for ${formatDuration(wantedMs)}`, { cause: err });
    }
  }
}
