import { AuthError, Conflict } from '../../errors.ts';
import type { Principal } from '../../interaction.ts';
import type { PrincipalRow, Store } from '../../store/types.ts';
import { newId } from '../../util/ids.ts';
import { toPrincipal } from '../credentials.ts';

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((group, i) => group === b[i]);
}

/**
 * The user principal a sign-in is for: created on first sign-in, its groups replaced by the
 * identity provider's on every one (so a group removed there stops granting its role at the next
 * sign-in), and refused when an admin or SCIM disabled it.
 */
export async function userForSignIn(store: Store, name: string, groups: readonly string[], now: number): Promise<Principal> {
  let row = await store.findPrincipal('user', name);
  if (!row) {
    const fresh: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [...groups], createdAt: now, disabledAt: null };
    try {
      await store.insertPrincipal(fresh);
      return toPrincipal(fresh);
    } catch (err) {
      // Another replica created the same person a moment ago: use theirs.
      if (!(err instanceof Conflict)) throw err;
      row = await store.findPrincipal('user', name);
      if (!row) throw err;
    }
  }
  if (row.disabledAt !== null) throw new AuthError('auth_revoked', 'your Gatehouse account is disabled; ask an admin');
  if (!sameGroups(row.groups, groups)) await store.setPrincipalGroups(row.id, groups);
  return toPrincipal({ ...row, groups: [...groups] });
}
