import { AuthError, Conflict, ForbiddenError, InvalidArgument, NotFound } from '../errors.ts';
import { nameKey } from '../store/scim-rows.ts';
import type { PrincipalRow, Store, ServiceAccountRow, TokenRow } from '../store/types.ts';
import { formatDuration } from '../util/durations.ts';
import { newId } from '../util/ids.ts';
import { toPrincipal, type AuthContext, type Credentials } from './credentials.ts';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const OWNER_FIELD = { field: 'owner', in: 'body' } as const;
const quoted = (text: string) => JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);

/**
 * The principal an owner names: a user or the admin identity, by id or by name in any case. Of
 * several with one name, the only one still enabled. Anything else is refused with what to send
 * instead, so that an account is never owned by a name offboarding cannot find.
 */
export async function resolveOwner(store: Store, owner: string): Promise<PrincipalRow> {
  const key = nameKey(owner.trim());
  const people = (await store.listPrincipals()).filter((p) => p.kind === 'user' || p.kind === 'admin');
  const byId = people.find((p) => p.id === owner);
  const named = byId ? [byId] : people.filter((p) => nameKey(p.name) === key);
  const enabled = named.filter((p) => p.disabledAt === null);
  if (named.length === 1 || enabled.length === 1) {
    const found = named.length === 1 ? named[0]! : enabled[0]!;
    if (found.disabledAt !== null) {
      throw new InvalidArgument(`owner ${quoted(owner)} is disabled (offboarded); name a person who is still here`, { details: OWNER_FIELD });
    }
    return found;
  }
  if (named.length > 1) {
    throw new InvalidArgument(
      `owner ${quoted(owner)} names ${named.length} identities whose names differ only in case (${named.slice(0, 5).map((p) => p.id).join(', ')}); ` +
        'send the id of the one meant (gatehouse users show <name> prints it)',
      { details: { ...OWNER_FIELD, candidates: named.slice(0, 5).map((p) => p.id) } },
    );
  }
  // `--owner alice` for alice@corp.com is the likely slip: offer the names that start that way.
  const near = people.filter((p) => nameKey(p.name).startsWith(`${key}@`)).slice(0, 3).map((p) => p.name);
  throw new InvalidArgument(
    `owner ${quoted(owner)}: no user or admin identity has that name${near.length > 0 ? ` (did you mean ${near.map(quoted).join(' or ')}?)` : ''}; ` +
      'name the person exactly as the gateway knows them (gatehouse users list); a person appears once they sign in, ' +
      'are provisioned over SCIM, or are given a token (gatehouse token create --for <name>)',
    { details: { ...OWNER_FIELD, ...(near.length > 0 ? { suggestions: near } : {}) } },
  );
}

/**
 * Service accounts are non-human identities (a CI job, a nightly eval). They hold one long-lived
 * gts_ secret that reaches no target: it only buys short-lived gth_ tokens, so what a CI job leaks
 * expires within minutes. Each is owned by a principal (resolveOwner), and offboarding that
 * person disables it.
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
    const owner = await resolveOwner(this.store, input.owner);
    const now = this.now();
    const account: ServiceAccountRow = {
      id: newId('sa'),
      name: input.name,
      owner: owner.name,
      ownerId: owner.id,
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
