import { ConfigError } from '../errors.ts';
import type { PrincipalRow, Store } from '../store/types.ts';
import { hashToken } from '../store/secret-box.ts';
import { toPrincipal, type Credentials } from './credentials.ts';
import { newId } from '../util/ids.ts';
import { TOKEN_PREFIX } from './token-format.ts';

export interface BootstrapResult {
  readonly principal: PrincipalRow;
  /** Set only on the first start without GATEHOUSE_ADMIN_TOKEN: shown once, never stored. */
  readonly oneTimeToken: string | null;
}

/**
 * The first start on an empty store creates the admin identity. Its token is either the operator's
 * GATEHOUSE_ADMIN_TOKEN (so automation can know it in advance) or a fresh one printed once.
 */
export async function bootstrapAdmin(store: Store, credentials: Credentials, envToken: string | undefined): Promise<BootstrapResult> {
  if (envToken !== undefined && (!envToken.startsWith(TOKEN_PREFIX.admin) || envToken.length < 36)) {
    throw new ConfigError('GATEHOUSE_ADMIN_TOKEN must start with "gta_" and be at least 36 characters (e.g. gta_$(openssl rand -hex 24))');
  }
  const candidateId = newId('adm');
  // Two replicas starting together agree on one admin principal through the store.
  const adminId = await store.setSettingIfAbsent('admin_principal_id', candidateId);
  let principal = await store.getPrincipal(adminId);
  const firstStart = principal === null;
  if (!principal) {
    principal = { id: adminId, kind: 'admin', name: 'admin', groups: ['admins'], createdAt: Date.now(), disabledAt: null };
    await store.insertPrincipal(principal);
  }
  if (envToken !== undefined) {
    const hash = hashToken(envToken);
    if (!(await store.getTokenByHash(hash))) {
      await store.insertToken({
        id: newId('tok'),
        hash,
        kind: 'admin',
        principalId: principal.id,
        name: 'GATEHOUSE_ADMIN_TOKEN',
        connections: null,
        createdAt: Date.now(),
        expiresAt: null,
        revokedAt: null,
        parentId: null,
      });
    }
    return { principal, oneTimeToken: null };
  }
  if (!firstStart) return { principal, oneTimeToken: null };
  const { secret } = await credentials.issue({
    principal: toPrincipal(principal),
    kind: 'admin',
    name: 'bootstrap admin token',
    connections: null,
    ttlMs: null,
  });
  return { principal, oneTimeToken: secret };
}
