/**
 * People with groups and an API token, made in-process: what an identity-provider sign-in leaves
 * behind (a principal row and a gta_ token), without the sign-in.
 */
import Database from 'better-sqlite3';
import { Credentials, toPrincipal } from '../../src/identity/credentials.ts';
import type { PrincipalRow, Store } from '../../src/store/types.ts';
import { newId } from '../../src/util/ids.ts';

/** The grants of the issue's example (docs/identity.md shows the same). */
export const ROLES_YAML = `
identity:
  roles:
    - group: platform-admins
      role: admin
    - group: security
      role: auditor
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [openai, analytics-db]
`;

export interface Person {
  readonly principal: PrincipalRow;
  /** A gta_ API token for the admin API. */
  readonly token: string;
  readonly tokenId: string;
}

export async function personWithToken(store: Store, name: string, groups: readonly string[]): Promise<Person> {
  const principal: PrincipalRow = { id: newId('usr'), kind: 'user', name, groups: [...groups], createdAt: Date.now(), disabledAt: null };
  await store.insertPrincipal(principal);
  const credentials = new Credentials(store, { defaultTtlMs: 3_600_000, maxTtlMs: 3_600_000, cacheTtlMs: 0, maxTtlForGroups: () => null });
  const { secret, token } = await credentials.issue({ principal: toPrincipal(principal), kind: 'admin', name: `${name} sign-in`, connections: null, ttlMs: 3_600_000 });
  return { principal, token: secret, tokenId: token.id };
}

/** Changes a principal behind the gateway's back, as an identity provider's group sync would (SQLite store). */
export function updatePrincipal(sqlitePath: string, id: string, change: { groups?: readonly string[]; disabledAt?: number | null }): void {
  const db = new Database(sqlitePath);
  try {
    if (change.groups) db.prepare('UPDATE principals SET groups_json = ? WHERE id = ?').run(JSON.stringify(change.groups), id);
    if (change.disabledAt !== undefined) db.prepare('UPDATE principals SET disabled_at = ? WHERE id = ?').run(change.disabledAt, id);
  } finally {
    db.close();
  }
}
