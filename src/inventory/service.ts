/**
 * The agent inventory as the API and the scheduler use it: listings, findings, revocation, per-owner
 * concurrency and the scheduled report. Reads only what the store already holds.
 */
import type { Logger } from 'pino';
import { signature } from '../approvals/notify/payload.ts';
import type { InventoryConfig } from '../config/inventory.ts';
import { NotFound } from '../errors.ts';
import type { AuditEventRow } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import { agentState, findingsOf, type Finding, type FindingRules } from './findings.ts';
import { applyRevoke, planRevoke, type RevokeActor, type RevokeDeps, type RevokePlan, type RevokeResult } from './revoke.ts';
import { reachable, takeSnapshot, type AgentEntry, type AgentState, type Snapshot, type SnapshotSource } from './snapshot.ts';

export interface AgentView {
  id: string;
  name: string;
  owner: string;
  purpose: string | null;
  labels: Record<string, string>;
  state: AgentState;
  authenticates: string[];
  /** null: any connection. */
  connections: string[] | null;
  createdAt: number;
  /** The latest expiry of its live credentials; null when one never expires or none is live. */
  expiresAt: number | null;
  lastUsedAt: number | null;
  lastClientAddr: string | null;
  lastUserAgent: string | null;
  requests24h: number;
  requests30d: number;
  liveSessions: number;
  credentials: { kind: string; id: string; name: string; expiresAt: number | null; live: boolean }[];
}

export interface OwnerView {
  owner: string;
  agents: number;
  liveSessions: number;
  /** The strictest concurrentSessionsPerIdentity of the rules that can apply to the owner; null when none limits it. */
  limit: number | null;
}

export interface InventoryDeps extends Omit<SnapshotSource, 'usageWindowMs'>, Omit<RevokeDeps, 'store'> {
  readonly store: SnapshotSource['store'];
  readonly logger: Logger;
  readonly config: () => InventoryConfig;
  /** What policy and config allow now (findings.ts). */
  readonly rules: () => Omit<FindingRules, 'staleAfterMs' | 'usageWindowMs' | 'scopeGraceMs' | 'manyAddresses'>;
  readonly sessionLimit: (person: { name: string; kind: string; groups: readonly string[] }) => number | null;
  readonly fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export interface ListFilter {
  owner?: string;
  connection?: string;
  state?: AgentState;
}

const REPORTED = 'inventory.reported';

export class Inventory {
  constructor(private readonly deps: InventoryDeps) {}

  private fullRules(): FindingRules {
    const c = this.deps.config();
    return { ...this.deps.rules(), staleAfterMs: c.staleAfter, usageWindowMs: c.usageWindow, scopeGraceMs: c.scopeGrace, manyAddresses: c.manyAddresses };
  }

  snapshot(now = this.deps.now()): Promise<Snapshot> {
    return takeSnapshot({ ...this.deps, usageWindowMs: this.deps.config().usageWindow }, now);
  }

  view(entry: AgentEntry, now: number): AgentView {
    const live = entry.credentials.filter((c) => c.live);
    const expiries = live.map((c) => c.expiresAt);
    return {
      id: entry.agent.id,
      name: entry.agent.name,
      owner: entry.agent.owner,
      purpose: entry.agent.purpose,
      labels: entry.agent.labels,
      state: agentState(entry, now, this.fullRules()),
      authenticates: [...entry.authenticates],
      connections: reachable(entry),
      createdAt: entry.agent.createdAt,
      expiresAt: expiries.length === 0 || expiries.includes(null) ? null : Math.max(...(expiries as number[])),
      lastUsedAt: entry.usage?.lastUsedAt ?? null,
      lastClientAddr: entry.usage?.lastClientAddr ?? null,
      lastUserAgent: entry.usage?.lastUserAgent ?? null,
      requests24h: entry.usage?.requests24h ?? 0,
      requests30d: entry.usage?.requests30d ?? 0,
      liveSessions: entry.liveSessions.length,
      credentials: entry.credentials.map((c) => ({ kind: c.tokenKind === 'agent' ? 'token' : c.kind, id: c.id, name: c.name, expiresAt: c.expiresAt, live: c.live })),
    };
  }

  async list(filter: ListFilter = {}, now = this.deps.now()): Promise<AgentView[]> {
    const snapshot = await this.snapshot(now);
    return snapshot.agents
      .filter((e) => filter.owner === undefined || e.agent.owner === filter.owner || e.agent.ownerId === filter.owner)
      .map((e) => this.view(e, now))
      .filter((v) => filter.connection === undefined || v.connections === null || v.connections.includes(filter.connection))
      .filter((v) => filter.state === undefined || v.state === filter.state);
  }

  async get(id: string, now = this.deps.now()): Promise<AgentView> {
    const entry = (await this.snapshot(now)).agents.find((e) => e.agent.id === id);
    if (!entry) throw new NotFound(`no agent "${id.slice(0, 100)}" (gatehouse agents list shows them)`);
    return this.view(entry, now);
  }

  async findings(now = this.deps.now()): Promise<Finding[]> {
    return findingsOf(await this.snapshot(now), this.fullRules());
  }

  async owners(now = this.deps.now()): Promise<OwnerView[]> {
    const snapshot = await this.snapshot(now);
    const byOwner = new Map<string, OwnerView>();
    for (const entry of snapshot.agents) {
      if (entry.agent.revokedAt !== null) continue;
      const person = snapshot.principals.find((p) => p.id === entry.owner.principalId);
      const view = byOwner.get(entry.agent.owner) ?? {
        owner: entry.agent.owner,
        agents: 0,
        liveSessions: person ? (snapshot.livePerPrincipal.get(person.id) ?? 0) : 0,
        limit: person ? this.deps.sessionLimit(person) : null,
      };
      if (entry.credentials.some((c) => c.live)) view.agents += 1;
      byOwner.set(entry.agent.owner, view);
    }
    return [...byOwner.values()].sort((a, b) => a.owner.localeCompare(b.owner));
  }

  /** Unknown ids are refused before anything changes; duplicates count once. */
  async plan(ids: readonly string[], stale: boolean, now = this.deps.now()): Promise<RevokePlan[]> {
    const snapshot = await this.snapshot(now);
    const wanted = [...new Set(ids)];
    const missing = wanted.filter((id) => !snapshot.agents.some((e) => e.agent.id === id));
    if (missing.length > 0) throw new NotFound(`no agent ${missing.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 100))).join(', ')} (gatehouse agents list shows them)`);
    if (stale) {
      const rules = this.fullRules();
      for (const e of snapshot.agents) if (agentState(e, now, rules) === 'stale' && !wanted.includes(e.agent.id)) wanted.push(e.agent.id);
    }
    return planRevoke(snapshot, wanted);
  }

  revoke(plans: readonly RevokePlan[], actor: RevokeActor, reason: string): Promise<RevokeResult[]> {
    return applyRevoke({ ...this.deps }, plans, actor, reason);
  }

  /**
   * New findings since the last report: written as an audit event (the export sinks carry it) and
   * posted to the webhook. Of several replicas, the first to claim the period reports it.
   */
  async report(now = this.deps.now(), force = false): Promise<{ reported: boolean; fresh: Finding[] }> {
    const every = this.deps.config().report.every;
    const period = every > 0 ? Math.floor(now / every) : now;
    if (!force) {
      const claimed = await this.deps.store.setSettingIfAbsent(`inventory.report.${period}`, this.deps.coordination.replicaId);
      if (claimed !== this.deps.coordination.replicaId) return { reported: false, fresh: [] };
    }
    const current = await this.findings(now);
    const before = new Set<string>(JSON.parse((await this.deps.store.getSetting(REPORTED)) ?? '[]') as string[]);
    const fresh = current.filter((f) => !before.has(f.key));
    if (fresh.length > 0) {
      const details = { total: current.length, new: fresh.slice(0, 200).map(({ key: _key, ...f }) => f), more: Math.max(0, fresh.length - 200) };
      const event: AuditEventRow = {
        id: newId('aud', now), at: now, replicaId: this.deps.coordination.replicaId, actorId: 'gateway', actorName: 'gatehouse', actorKind: 'gateway',
        credentialId: null, action: 'agents.report', target: null, outcome: 200, details,
      };
      await this.deps.store.insertAuditEvent(event);
      await this.post({ type: 'agents.report', id: event.id, at: now, ...details });
    }
    await this.deps.store.setSetting(REPORTED, JSON.stringify(current.map((f) => f.key)));
    return { reported: true, fresh };
  }

  private async post(body: Record<string, unknown>): Promise<void> {
    const hook = this.deps.config().report.webhook;
    if (!hook) return;
    const text = JSON.stringify(body);
    const timestamp = String(Math.floor(this.deps.now() / 1000));
    try {
      const response = await (this.deps.fetch ?? fetch)(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'gatehouse-agents-report',
          'x-gatehouse-timestamp': timestamp,
          'x-gatehouse-event-id': String(body.id),
          'x-gatehouse-signature': signature(hook.secret, timestamp, text),
        },
        body: text,
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) this.deps.logger.warn({ status: response.status }, 'agents report: the webhook refused the report (it is in the audit trail)');
    } catch (err) {
      this.deps.logger.warn({ error: (err as Error).message }, 'agents report: could not reach the webhook (the report is in the audit trail)');
    }
  }
}
