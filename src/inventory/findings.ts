/**
 * Credential hygiene findings: pure functions over a snapshot, the policy in force and a time.
 * Each says why, in words, and the command that fixes it. Only agents with a live credential are
 * judged: one whose credentials all ended has nothing left to cut off.
 */
import type { AgentCredential, AgentEntry, AgentState, Snapshot } from './snapshot.ts';
import { reachable } from './snapshot.ts';

export type FindingKind =
  | 'unused'
  | 'owner_disabled'
  | 'owner_unknown'
  | 'lifetime_exceeds_policy'
  | 'scope_wider_than_used'
  | 'account_predates_policy'
  | 'many_addresses';

export interface Finding {
  /** Stable across runs, so a report names only what is new: agent, kind and credential. */
  readonly key: string;
  readonly kind: FindingKind;
  readonly agentId: string;
  readonly agent: string;
  readonly owner: string;
  readonly credentialId: string | null;
  readonly reason: string;
  /** A command that fixes it. */
  readonly fix: string;
}

export interface FindingRules {
  readonly staleAfterMs: number;
  readonly usageWindowMs: number;
  readonly scopeGraceMs: number;
  readonly manyAddresses: number;
  /** The longest gth_ lifetime policy and config allow a principal with these groups now. */
  readonly tokenCapMs: (groups: readonly string[]) => number;
  /** identity.serviceAccounts.maxExpiry as configured now. */
  readonly accountMaxExpiryMs: number;
  /** When the policy or the identity limits last changed; null when unknown. */
  readonly policyChangedAt: number | null;
  /** Every connection's name, for credentials that may reach any. */
  readonly connections: readonly string[];
}

const DAY = 86_400_000;

export function days(ms: number): string {
  const d = ms / DAY;
  if (d >= 1) return `${Math.floor(d)} day${Math.floor(d) === 1 ? '' : 's'}`;
  const h = Math.floor(ms / 3_600_000);
  return h >= 1 ? `${h} hour${h === 1 ? '' : 's'}` : `${Math.max(0, Math.floor(ms / 60_000))} minutes`;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** A word the shell passes as one argument, whatever the name holds. */
export const shellWord = (text: string) => (/^[\w@.:/=+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

const liveOf = (entry: AgentEntry) => entry.credentials.filter((c) => c.live);

export function agentState(entry: AgentEntry, now: number, rules: Pick<FindingRules, 'staleAfterMs'>): AgentState {
  if (entry.agent.revokedAt !== null) return 'revoked';
  const live = liveOf(entry);
  if (live.length === 0) return 'ended';
  return idleSince(entry, live) <= now - rules.staleAfterMs ? 'stale' : 'active';
}

/** Last use, or when the oldest live credential was issued when it was never used. */
function idleSince(entry: AgentEntry, live: readonly AgentCredential[]): number {
  return entry.usage?.lastUsedAt ?? Math.min(...live.map((c) => c.createdAt));
}

function finding(entry: AgentEntry, kind: FindingKind, credential: AgentCredential | null, reason: string, fix: string): Finding {
  return {
    key: `${entry.agent.id}:${kind}:${credential?.id ?? ''}`,
    kind,
    agentId: entry.agent.id,
    agent: entry.agent.name,
    owner: entry.agent.owner,
    credentialId: credential?.id ?? null,
    reason,
    fix,
  };
}

function agentFindings(entry: AgentEntry, now: number, rules: FindingRules): Finding[] {
  if (entry.agent.revokedAt !== null) return [];
  const live = liveOf(entry);
  if (live.length === 0) return [];
  const revoke = `gatehouse agents revoke ${shellWord(entry.agent.id)} --yes`;
  const out: Finding[] = [];

  const since = idleSince(entry, live);
  if (since <= now - rules.staleAfterMs) {
    const last = entry.usage?.lastUsedAt;
    out.push(
      finding(entry, 'unused', null,
        last != null
          ? `not used for ${days(now - last)} (last used ${iso(last)}); stale after ${days(rules.staleAfterMs)}`
          : `never used in the ${days(now - since)} since its credential was issued; stale after ${days(rules.staleAfterMs)}`,
        revoke),
    );
  }

  if (entry.owner.state !== 'active') {
    out.push(
      finding(entry, entry.owner.state === 'disabled' ? 'owner_disabled' : 'owner_unknown', null,
        entry.owner.state === 'disabled'
          ? `its owner ${JSON.stringify(entry.agent.owner)} is disabled (offboarded), yet it still holds live credentials`
          : `its owner ${JSON.stringify(entry.agent.owner)} is no person or team the gateway knows`,
        revoke),
    );
  }

  for (const c of live) {
    if (c.kind !== 'token' || c.tokenKind !== 'agent') continue;
    const cap = rules.tokenCapMs(entry.owner.groups);
    const lifetime = c.expiresAt === null ? Infinity : c.expiresAt - c.createdAt;
    if (lifetime > cap) {
      out.push(
        finding(entry, 'lifetime_exceeds_policy', c,
          `token ${c.id} lives ${lifetime === Infinity ? 'forever' : days(lifetime)}, longer than the ${days(cap)} policy allows now`,
          `gatehouse token revoke ${shellWord(c.id)}`),
      );
    }
  }

  for (const c of live) {
    if (c.kind !== 'service_account' || rules.policyChangedAt === null || c.createdAt >= rules.policyChangedAt) continue;
    const lifetime = c.expiresAt === null ? Infinity : c.expiresAt - c.createdAt;
    if (lifetime > rules.accountMaxExpiryMs) {
      out.push(
        finding(entry, 'account_predates_policy', c,
          `service account ${JSON.stringify(c.name)} was created ${iso(c.createdAt)}, before the policy changed (${iso(rules.policyChangedAt)}), ` +
            `and ${c.expiresAt === null ? 'never expires' : `runs ${days(lifetime)}`}, longer than the ${days(rules.accountMaxExpiryMs)} allowed now`,
          `gatehouse service-accounts disable ${shellWord(c.name)}`),
      );
    }
  }

  const oldest = Math.min(...live.map((c) => c.createdAt));
  const used = entry.usage?.connectionsUsed ?? [];
  if (used.length > 0 && oldest <= now - rules.scopeGraceMs) {
    const allowed = reachable(entry) ?? [...rules.connections];
    const unused = allowed.filter((name) => !used.includes(name));
    if (unused.length > 0) {
      out.push(
        finding(entry, 'scope_wider_than_used', null,
          `may reach ${allowed.length} connection(s) (${allowed.join(', ')}) but used ${used.length} in the last ${days(rules.usageWindowMs)} (${used.join(', ')})`,
          `gatehouse token create --agent ${shellWord(entry.agent.name)} ${used.map((c) => `--connection ${shellWord(c)}`).join(' ')} && ${revoke}`),
      );
    }
  }

  const byCredential = new Map<string, Set<string>>();
  for (const s of entry.liveSessions) {
    if (!s.tokenId || !s.clientAddr) continue;
    const set = byCredential.get(s.tokenId) ?? new Set<string>();
    set.add(s.clientAddr);
    byCredential.set(s.tokenId, set);
  }
  for (const [tokenId, addrs] of byCredential) {
    if (addrs.size < rules.manyAddresses) continue;
    const c = entry.credentials.find((x) => x.id === tokenId) ?? null;
    out.push(
      finding(entry, 'many_addresses', c ?? { id: tokenId } as AgentCredential,
        `token ${tokenId} is in use from ${addrs.size} client addresses at once (${[...addrs].sort().slice(0, 5).join(', ')}${addrs.size > 5 ? ', …' : ''}); at most ${rules.manyAddresses - 1} is expected`,
        `gatehouse token revoke ${shellWord(tokenId)}`),
    );
  }
  return out;
}

export function findingsOf(snapshot: Snapshot, rules: FindingRules): Finding[] {
  return snapshot.agents.flatMap((entry) => agentFindings(entry, snapshot.at, rules));
}
