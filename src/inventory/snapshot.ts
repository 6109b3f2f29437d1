/**
 * One read of the inventory: every agent with its credentials, usage and live sessions, as of
 * `now`. Findings and listings are pure functions over it (findings.ts, view.ts).
 */
import type { AgentRow, AgentUsageRow, LiveSessionRow, PrincipalRow, ServiceAccountRow, Store, TokenRow } from '../store/types.ts';

export interface AgentCredential {
  readonly kind: 'token' | 'service_account';
  /** The token id, or the service account's id. */
  readonly id: string;
  readonly name: string;
  readonly tokenKind: TokenRow['kind'] | null;
  readonly principalId: string;
  /** null: any connection. */
  readonly connections: readonly string[] | null;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  /** Revoked (a token) or disabled (an account). */
  readonly endedAt: number | null;
  readonly live: boolean;
}

export type OwnerState = 'active' | 'disabled' | 'unknown';

export interface AgentEntry {
  readonly agent: AgentRow;
  readonly credentials: readonly AgentCredential[];
  /** How its credentials authenticate: token, service-account, workload:<trust>. */
  readonly authenticates: readonly string[];
  readonly usage: AgentUsageRow | null;
  readonly liveSessions: readonly LiveSessionRow[];
  readonly owner: { readonly state: OwnerState; readonly groups: readonly string[]; readonly principalId: string | null };
}

export interface Snapshot {
  readonly at: number;
  readonly agents: readonly AgentEntry[];
  readonly principals: readonly PrincipalRow[];
  /** Live sessions of every principal, by principal id (per-owner concurrency). */
  readonly livePerPrincipal: ReadonlyMap<string, number>;
}

export interface SnapshotSource {
  readonly store: Store;
  /** Workload trusts by the service account they map to (identity.workload.trust). */
  readonly workloadTrusts: () => readonly { readonly name: string; readonly serviceAccount: string }[];
  readonly usageWindowMs: number;
}

const isLive = (revokedAt: number | null, expiresAt: number | null, now: number) => revokedAt === null && (expiresAt === null || expiresAt > now);

function tokenCredential(t: TokenRow, now: number): AgentCredential {
  return {
    kind: 'token', id: t.id, name: t.name, tokenKind: t.kind, principalId: t.principalId, connections: t.connections,
    createdAt: t.createdAt, expiresAt: t.expiresAt, endedAt: t.revokedAt, live: isLive(t.revokedAt, t.expiresAt, now),
  };
}

function accountCredential(a: ServiceAccountRow, now: number): AgentCredential {
  return {
    kind: 'service_account', id: a.id, name: a.name, tokenKind: null, principalId: a.id, connections: a.connections,
    createdAt: a.createdAt, expiresAt: a.expiresAt, endedAt: a.disabledAt, live: isLive(a.disabledAt, a.expiresAt, now),
  };
}

/** Whose an agent is: the owning person, or for a team, whether anyone enabled is in it. */
function ownerOf(agent: AgentRow, principals: readonly PrincipalRow[]): AgentEntry['owner'] {
  const person = agent.ownerId !== null
    ? principals.find((p) => p.id === agent.ownerId)
    : principals.find((p) => p.kind !== 'service_account' && p.name.toLowerCase() === agent.owner.toLowerCase());
  if (person) return { state: person.disabledAt === null ? 'active' : 'disabled', groups: person.groups, principalId: person.id };
  const team = principals.some((p) => p.disabledAt === null && p.kind !== 'service_account' && p.groups.includes(agent.owner));
  return { state: agent.ownerId === null && team ? 'active' : 'unknown', groups: [], principalId: null };
}

export async function takeSnapshot(source: SnapshotSource, now: number): Promise<Snapshot> {
  const { store } = source;
  const [agents, tokens, accounts, usage, live, principals] = await Promise.all([
    store.listAgents(),
    store.agentTokens('all'),
    store.listServiceAccounts(),
    store.agentUsage(now, source.usageWindowMs),
    store.liveSessions(),
    store.listPrincipals(),
  ]);
  const trusts = source.workloadTrusts();
  const usageOf = new Map(usage.map((u) => [u.agentId, u]));
  const entries: AgentEntry[] = agents.map((agent) => {
    const own = tokens.filter((t) => t.agentId === agent.id);
    const ownAccounts = accounts.filter((a) => a.agentId === agent.id);
    // A service account's gts_ secret is shown as the account itself.
    const credentials = [
      ...ownAccounts.map((a) => accountCredential(a, now)),
      ...own.filter((t) => t.kind !== 'service_account').map((t) => tokenCredential(t, now)),
    ];
    const authenticates = new Set<string>();
    if (own.some((t) => t.kind === 'agent' && !ownAccounts.some((a) => a.id === t.principalId))) authenticates.add('token');
    for (const account of ownAccounts) {
      authenticates.add('service-account');
      for (const trust of trusts) if (trust.serviceAccount === account.name) authenticates.add(`workload:${trust.name}`);
    }
    return {
      agent,
      credentials,
      authenticates: [...authenticates],
      usage: usageOf.get(agent.id) ?? null,
      liveSessions: live.filter((s) => s.agentId === agent.id),
      owner: ownerOf(agent, principals),
    };
  });
  const livePerPrincipal = new Map<string, number>();
  for (const s of live) if (s.principalId) livePerPrincipal.set(s.principalId, (livePerPrincipal.get(s.principalId) ?? 0) + 1);
  return { at: now, agents: entries, principals, livePerPrincipal };
}

/** The connections an agent's live credentials may reach; null when one reaches any. */
export function reachable(entry: AgentEntry): string[] | null {
  const all = new Set<string>();
  for (const c of entry.credentials) {
    if (!c.live) continue;
    if (c.connections === null) return null;
    for (const name of c.connections) all.add(name);
  }
  return [...all].sort();
}

export type AgentState = 'active' | 'stale' | 'revoked' | 'ended';
