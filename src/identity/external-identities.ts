import { AuthError, Conflict } from '../errors.ts';
import { nameKey } from '../store/scim-rows.ts';
import type { ExternalIdentityRow, PrincipalRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';

/** A person as a verified sign-in (an OIDC ID token, a SAML assertion) names them. */
export interface SignInIdentity {
  readonly protocol: ExternalIdentityRow['protocol'];
  /** The OIDC issuer URL, or the SAML identity provider's entityId. */
  readonly issuer: string;
  /** What the provider keeps for the account and no one else: OIDC `sub`, SAML NameID. */
  readonly subject: string;
  /** The user name the provider gives (usernameClaim, usernameAttribute): used only to find the principal on the first sign-in. */
  readonly name: string;
  readonly groups: readonly string[];
}

/** OIDC Core allows 255 ASCII characters for sub; a SAML NameID is usually shorter still. */
const MAX_SUBJECT = 512;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** What is stored as the account's key: never empty (every account would share it), and no NUL, which PostgreSQL text refuses. */
export function usableSubject(subject: string): boolean {
  return subject !== '' && subject.length <= MAX_SUBJECT && !CONTROL.test(subject);
}

/** Concurrent sign-ins can each undo the other's view once or twice; past that, something is wrong. */
const ATTEMPTS = 3;

function conflict(identity: SignInIdentity, why: string): AuthError {
  return new AuthError(
    'auth_identity_conflict',
    `cannot sign in as "${identity.name}": ${why}. An admin must link this account to that user or rename one of them`,
    { details: { name: identity.name } },
  );
}

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((group, i) => group === b[i]);
}

/**
 * The user principal a sign-in is for. An account (issuer, subject) is linked to one principal on
 * its first sign-in and found by that link from then on, whatever name it later claims: a second
 * issuer asserting the same user name, or a provider account renamed to someone else's name, never
 * reaches another person's principal.
 *
 * The first sign-in takes the principal whose name equals the claimed one apart from letter case
 * (as SCIM compares userName), if no other account is linked to it: one SCIM or `tokens --for`
 * created, or one signed in before links existed. Otherwise it is refused with
 * `auth_identity_conflict`. With no such principal, one is created with the claimed name.
 *
 * Groups: a person SCIM provisions keeps the groups SCIM gives (the token's are ignored, so an old
 * ID token cannot bring back a group SCIM removed); anyone else gets the token's groups.
 */
export async function principalForSignIn(store: Store, identity: SignInIdentity, now: number): Promise<PrincipalRow> {
  if (!usableSubject(identity.subject)) {
    throw new AuthError('auth_invalid', `the identity provider's account identifier (${identity.protocol === 'oidc' ? 'sub' : 'NameID'}) is empty, longer than ${MAX_SUBJECT} characters or holds control characters`);
  }
  const row = await linkedPrincipal(store, identity, now);
  if (row.disabledAt !== null) throw new AuthError('auth_revoked', `user "${row.name}" is disabled in Gatehouse: ask an admin`);
  if ((await store.getScimUser(row.id)) !== null || sameGroups(row.groups, identity.groups)) return row;
  await store.setPrincipalGroups(row.id, identity.groups);
  return { ...row, groups: [...identity.groups] };
}

async function linkedPrincipal(store: Store, identity: SignInIdentity, now: number): Promise<PrincipalRow> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const link = await store.getExternalIdentity(identity.protocol, identity.issuer, identity.subject);
    if (link) {
      const row = await store.getPrincipal(link.principalId);
      if (!row) throw new AuthError('auth_revoked', 'the Gatehouse user this account is linked to no longer exists: ask an admin');
      return row;
    }
    const claimed = await claim(store, identity, now);
    if (claimed) return claimed;
  }
  throw conflict(identity, 'other sign-ins changed this user while it was being linked; try again');
}

/** The first sign-in of an account; null when a concurrent sign-in got in the way (look again). */
async function claim(store: Store, identity: SignInIdentity, now: number): Promise<PrincipalRow | null> {
  const key = nameKey(identity.name);
  // A scan, but only on an account's first sign-in: every later one finds its link by key.
  const candidates = (await store.listPrincipals()).filter((p) => p.kind === 'user' && nameKey(p.name) === key);
  for (const candidate of candidates) {
    const links = await store.listExternalIdentities(candidate.id);
    // A concurrent sign-in of this same account linked it since we looked: look again.
    if (links.some((l) => l.protocol === identity.protocol && l.issuer === identity.issuer && l.subject === identity.subject)) return null;
    if (links.length > 0) throw conflict(identity, `the Gatehouse user "${candidate.name}" signs in with another identity provider account`);
  }
  let row: PrincipalRow;
  if (candidates.length === 0) {
    row = { id: newId('usr', now), kind: 'user', name: identity.name, groups: [...identity.groups], createdAt: now, disabledAt: null };
    if (!(await inserted(() => store.insertPrincipal(row)))) return null;
  } else {
    const exact = candidates.filter((p) => p.name === identity.name);
    if (candidates.length > 1 && exact.length !== 1) {
      throw conflict(identity, `${candidates.length} Gatehouse users have this name apart from letter case (${candidates.map((p) => p.name).join(', ')})`);
    }
    row = exact[0] ?? candidates[0]!;
    // A disabled person's principal is not claimed: re-enabling it must not hand it to whoever signed in meanwhile.
    if (row.disabledAt !== null) return row;
  }
  const link: ExternalIdentityRow = { ...pick(identity), principalId: row.id, linkedBy: 'sign-in', createdAt: now };
  return (await inserted(() => store.insertExternalIdentity(link))) ? row : null;
}

function pick({ protocol, issuer, subject }: SignInIdentity): Pick<ExternalIdentityRow, 'protocol' | 'issuer' | 'subject'> {
  return { protocol, issuer, subject };
}

async function inserted(write: () => Promise<void>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (err) {
    if (err instanceof Conflict) return false;
    throw err;
  }
}
