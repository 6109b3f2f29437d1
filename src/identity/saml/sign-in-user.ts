import type { Principal } from '../../interaction.ts';
import type { Store } from '../../store/types.ts';
import { toPrincipal } from '../credentials.ts';
import { principalForSignIn, usableSubject } from '../external-identities.ts';
import { Refusal } from './refusal.ts';

const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';

/** Who an accepted assertion names. */
export interface SamlAccount {
  readonly idpEntityId: string;
  readonly nameId: unknown;
  readonly nameIdFormat: unknown;
  /** The NameID, or the usernameAttribute's value. */
  readonly username: string;
  readonly groups: readonly string[];
}

/**
 * The user principal a sign-in is for (external-identities.ts): the account is the identity
 * provider's entityId and the NameID, linked to a principal on its first sign-in, so another
 * NameID asserting the same user name never reaches that person. A transient NameID is new on
 * every sign-in, so for it the user name (usernameAttribute) stands as the account. Refused when
 * an admin or SCIM disabled the person.
 */
export async function userForSignIn(store: Store, account: SamlAccount, now: number): Promise<Principal> {
  const subject = account.nameIdFormat === TRANSIENT ? account.username : account.nameId;
  if (typeof subject !== 'string' || !usableSubject(subject)) throw new Refusal('saml_invalid', 'name_id');
  const row = await principalForSignIn(store, { protocol: 'saml', issuer: account.idpEntityId, subject, name: account.username, groups: account.groups }, now);
  return toPrincipal(row);
}
