import { AuthError, Conflict, ForbiddenError, InvalidArgument, NotFound } from '../errors.ts';
import type { Store, ServiceAccountRow, TokenRow } from '../store/types.ts';
import { formatDuration } from '../util/durations.ts';
import { newId } from '../util/ids.ts';
import { toPrincipal, type AuthContext, type Credentials } from './credentials.ts';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * Service accounts are non-human identities (a CI job, a nightly eval). They hold one long-lived
 * gts_ secret that reaches no target: it only buys short-lived gth_ tokens, so what a CI job leaks
 * expires within minutes.
 */
export class ServiceAccounts {
  constructor(
    private readonly store: Store,
    private readonly credentials: Credentials,
    private readonly maxExpiryMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: {
    name: string;
    owner: string;
    connections: readonly string[];
    groups: readonly string[];
    expiresInMs: number;
  }): Promise<{ account: ServiceAccountRow; secret: string }> {
    if (!NAME.test(input.name)) {
      throw new InvalidArgument('service account name: lower-case letters, digits, ".", "_" or "-"');
    }
    if (!input.owner.trim()) throw new InvalidArgument('a service account needs an owner (--owner)');
    if (input.connections.length === 0) {
      throw new InvalidArgument('name at least one connection the service account may reach');
    }
    if (!(input.expiresInMs > 0)) throw new InvalidArgument('a service account needs an expiry (--expires 30d)');
    if (input.expiresInMs > this.maxExpiryMs) {
      throw new InvalidArgument(
        `expiry ${formatDuration(input.expiresInMs)} exceeds the configured maximum of ${formatDuration(this.maxExpiryMs)}`,
      );
    }
    if (await this.store.getServiceAccount(input.name)) {
      throw new Conflict(`service account "${input.name}" already exists`);
    }
    const now = this.now();
    const account: ServiceAccountRow = {
      id: newId('sa'),
      name: input.name,
      owner: input.owner,
      connections: [...input.connections],
      createdAt: now,
      expiresAt: now + input.expiresInMs,
      disabledAt: null,
    };
    const principalRow = { id: account.id, kind: 'service_account' as const, name: account.name, groups: [...input.groups], createdAt: now, disabledAt: null };
    await this.store.insertPrincipal(principalRow);
    await this.store.insertServiceAccount(account);
    const { secret } = await this.credentials.issue({
      principal: toPrincipal(principalRow),
      kind: 'service_account',
      name: `${account.name} secret`,
      connections: account.connections,
      ttlMs: input.expiresInMs,
    });
    return { account, secret };
  }

  /** Trades a gts_ secret for a gth_ token no wider and no longer-lived than the account itself. */
  async exchange(
    secret: string | undefined,
    request: { ttlMs?: number; connections?: readonly string[]; name?: string },
  ): Promise<{ secret: string; token: TokenRow; auth: AuthContext }> {
    const auth = await this.credentials.verify(secret, 'service_account');
    const account = await this.store.getServiceAccount(auth.principal.id);
    if (!account || account.disabledAt !== null) throw new AuthError('auth_revoked', 'this service account is disabled');
    const granted = account.connections;
    const wanted = request.connections && request.connections.length > 0 ? request.connections : granted;
    const outside = wanted.filter((c) => !granted.includes(c));
    if (outside.length > 0) {
      throw new ForbiddenError('forbidden_connection', `service account "${account.name}" may not reach: ${outside.join(', ')}`);
    }
    const remaining = account.expiresAt - this.now();
    let ttlMs = this.credentials.resolveTtl(request.ttlMs, auth.principal.groups);
    if (request.ttlMs === undefined) ttlMs = Math.min(ttlMs, remaining);
    else if (ttlMs > remaining) {
      throw new InvalidArgument(`the service account expires in ${formatDuration(remaining)}; ask for a shorter lifetime`);
    }
    const issued = await this.credentials.issue({
      principal: auth.principal,
      kind: 'agent',
      name: request.name ?? `${account.name} (exchanged)`,
      connections: wanted,
      ttlMs,
      parentId: auth.credential.tokenId,
    });
    return { ...issued, auth };
  }

  list(): Promise<ServiceAccountRow[]> {
    return this.store.listServiceAccounts();
  }

  /** Disables the account and revokes its secret and every token bought with it. */
  async disable(idOrName: string): Promise<{ account: ServiceAccountRow; revoked: string[] }> {
    const account = await this.store.getServiceAccount(idOrName);
    if (!account) throw new NotFound(`no service account "${idOrName}"`);
    await this.store.disableServiceAccount(account.id, this.now());
    const revoked = await this.credentials.revokePrincipal(account.id);
    return { account, revoked };
  }
}
