/**
 * Just-in-time access: a person asks for a connection for a while (`gatehouse access request`);
 * the request is an approval like any held request (same table, approvers, rules, notifications,
 * expiry); once approved it yields a time-boxed grant that policy reads as `grants`. A grant ends
 * once, when revoked or when its time is up, and every replica then ends the sessions whose
 * decisions read it (the `grants.ended` event). Each transition is logged and kept in audit_events.
 */
import type { Logger } from 'pino';
import { Conflict, InvalidArgument, LimitExceeded, NotFound, StoreError, UnknownConnection } from '../errors.ts';
import type { AccessTerms } from '../config/approval-access.ts';
import type { AuthContext } from '../identity/credentials.ts';
import type { Principal } from '../interaction.ts';
import type { GrantFact } from '../policy/types.ts';
import type { Coordination } from '../store/coordination.ts';
import type { ApprovalRow, GrantRow, Store } from '../store/types.ts';
import { formatDuration, parseDuration } from '../util/durations.ts';
import { ACCESS_KIND, ACCESS_RULE, grantIdOf, toAccessView, type AccessView } from './access-view.ts';
import { accessAudit, type AccessAction, type AuditActor, GATEWAY } from './access-audit.ts';
import { fingerprint } from './fingerprint.ts';
import type { ApprovalEvent, Approvals } from './service.ts';
import { REAL_TIMERS, repeatAfter, type Timers } from './timers.ts';

export interface GrantsDeps {
  readonly store: Store;
  readonly coordination: Pick<Coordination, 'replicaId' | 'publish'>;
  readonly approvals: Pick<Approvals, 'hold' | 'onEvent'>;
  readonly logger: Logger;
  /** approvals.access as configured now, for requests to this connection. */
  readonly terms: (connection: string) => AccessTerms;
  readonly connectionExists: (name: string) => boolean;
  /** Secrets never reach approvers, Slack or the record, even in a reason. */
  readonly redact?: (text: string) => string;
  readonly now?: () => number;
  readonly timers?: Timers;
  /** How often grants past their end are marked expired (and their sessions ended). */
  readonly sweepMs?: number;
}

export interface AccessRequestInput {
  readonly connection: string;
  /** A duration such as 30m or 1h (`--for`). */
  readonly duration: string;
  readonly reason: string;
}

const MAX_REASON = 500;
/** A grant shorter than this would end before anyone could use it. */
const MIN_GRANT_MS = 60_000;
/** Open requests per person: more would only flood approvers' notifications. */
const MAX_PENDING = 10;
// A reason is one line: no control characters (line breaks included) and no bidirectional overrides.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export class Grants {
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly audit: ReturnType<typeof accessAudit>;
  private cancelSweep: (() => void) | null = null;
  private readonly unlisten: () => void;

  constructor(private readonly deps: GrantsDeps) {
    this.now = deps.now ?? Date.now;
    this.timers = deps.timers ?? REAL_TIMERS;
    this.audit = accessAudit(deps.store, deps.logger, deps.coordination.replicaId, this.now);
    // Told on the replica where an approval changed, once per change: the place to settle and record it.
    this.unlisten = deps.approvals.onEvent((event) => void this.onApprovalEvent(event));
  }

  start(): void {
    this.cancelSweep = repeatAfter(this.timers, this.deps.sweepMs ?? 5_000, () => this.sweep(), (err) =>
      this.deps.logger.warn({ err }, 'access grants: the expiry sweep failed; it runs again'),
    );
  }

  stop(): void {
    this.cancelSweep?.();
    this.cancelSweep = null;
    this.unlisten();
  }

  /** Asks for access: an approval of kind access.request, pending until approvers decide (the same request again returns it). */
  async request(caller: AuthContext, input: AccessRequestInput): Promise<AccessView> {
    const { connection } = input;
    if (!this.deps.connectionExists(connection)) {
      throw new UnknownConnection(`no connection named ${JSON.stringify(connection)} (list them with: gatehouse connections list)`);
    }
    const terms = this.deps.terms(connection);
    const durationMs = parseFor(input.duration, terms.maxDurationMs, connection);
    const reason = parseReason(input.reason);
    const principal = caller.principal;
    const now = this.now();
    const pending = await this.deps.store.listApprovalsOfKind(ACCESS_KIND, { principalId: principal.id, status: 'pending', limit: MAX_PENDING + 1 });
    const summary = { reason: this.mask(reason), duration: formatDuration(durationMs), durationMs };
    const print = fingerprint({ principalId: principal.id, agent: 'access', connection, kind: ACCESS_KIND, method: null, target: null, content: { json: { durationMs, reason } } });
    const same = pending.find((row) => row.fingerprint === print && row.expiresAt > now);
    if (same) return this.viewOf(same);
    if (pending.filter((row) => row.expiresAt > now).length >= MAX_PENDING) {
      throw new LimitExceeded('access.pending', `you have ${MAX_PENDING} access requests waiting already; wait for a decision (gatehouse access list) before asking again`);
    }
    const outcome = await this.deps.approvals.hold(
      {
        principal: { id: principal.id, name: principal.name, kind: principal.kind },
        tokenId: caller.credential.tokenId,
        agent: caller.credential.name,
        connection,
        kind: ACCESS_KIND,
        fingerprint: print,
        rule: ACCESS_RULE,
        approvers: terms.approvers,
        required: terms.required,
        timeoutMs: terms.timeoutMs,
        summary,
      },
      { waitMs: 0 },
    );
    // An identical request approved a moment ago and not yet settled was just used for this one.
    if (outcome.state === 'approved') await this.settle(outcome.id);
    else await this.audit.record('access.requested', actorOf(principal, caller.credential.tokenId), outcome.id, { connection, duration: summary.duration });
    this.deps.logger.info({ accessRequest: outcome.id, requester: principal.name, connection, duration: summary.duration }, 'access requested');
    return (await this.show(outcome.id))!;
  }

  /** An access request by its id, or by the id of the grant it yielded. */
  async show(id: string): Promise<AccessView | null> {
    let approvalId = id;
    if (id.startsWith('grt_')) {
      const grant = await this.deps.store.getGrant(id);
      if (!grant) return null;
      approvalId = grant.approvalId;
    }
    const row = await this.deps.store.getApproval(approvalId);
    if (!row || row.kind !== ACCESS_KIND) return null;
    return this.viewOf(row);
  }

  /** Newest first. */
  async list(filter: { principalId?: string; limit: number }): Promise<AccessView[]> {
    const rows = await this.deps.store.listApprovalsOfKind(ACCESS_KIND, filter);
    return Promise.all(rows.map((row) => this.viewOf(row)));
  }

  /** The caller's live grants for a connection, as policy conditions read them. */
  async live(principalId: string, connection: string): Promise<GrantFact[]> {
    const rows = await this.deps.store.liveGrants(principalId, connection, this.now());
    return rows.map((g) => ({ id: g.id, connection: g.connection, reason: g.reason, grantedAt: g.grantedAt, expiresAt: g.expiresAt, approvedBy: g.approvedBy }));
  }

  /**
   * Issues the grant of an approved access request (once: its id is the approval's), and marks the
   * approval used. Called where the approval was decided, and again harmlessly anywhere else.
   */
  async settle(approvalId: string): Promise<GrantRow | null> {
    const { store } = this.deps;
    const row = await store.getApproval(approvalId);
    if (!row || row.kind !== ACCESS_KIND || (row.status !== 'approved' && row.status !== 'used')) return null;
    const id = grantIdOf(row.id);
    const existing = await store.getGrant(id);
    if (existing) return existing;
    const asked = Number(row.summary.durationMs);
    if (!Number.isSafeInteger(asked) || asked <= 0) {
      this.deps.logger.error({ accessRequest: row.id }, 'access grants: an approved request names no usable duration; no grant issued');
      return null;
    }
    const now = this.now();
    const votes = await store.listApprovalVotes(row.id);
    const approvedBy = votes.filter((v) => v.vote === 'approve' && v.approverId !== row.principalId).map((v) => v.approverName);
    // The grant runs from the decision, and never longer than approvals.access allows now.
    const grantedAt = row.decidedAt ?? now;
    const grant: GrantRow = {
      id,
      approvalId: row.id,
      principalId: row.principalId,
      principalName: row.principalName,
      connection: row.connection,
      reason: typeof row.summary.reason === 'string' ? row.summary.reason : '',
      approvedBy,
      grantedAt,
      expiresAt: grantedAt + Math.min(asked, this.deps.terms(row.connection).maxDurationMs),
      status: 'active',
      endedAt: null,
      endedBy: null,
      endReason: null,
    };
    const inserted = await store.insertGrant(grant);
    if (row.status === 'approved') await store.useApproval(row.id, now);
    if (!inserted) return store.getGrant(id);
    const last = votes.filter((v) => v.vote === 'approve').at(-1);
    const actor: AuditActor = last ? { id: last.approverId, name: last.approverName, kind: 'user', tokenId: null } : GATEWAY;
    await this.audit.record('access.approved', actor, grant.id, { accessRequest: row.id, requester: row.principalName, connection: row.connection, expiresAt: grant.expiresAt, approvedBy });
    this.deps.logger.info({ grantId: grant.id, requester: row.principalName, connection: row.connection, approvedBy, expiresAt: grant.expiresAt }, 'access granted');
    return grant;
  }

  /**
   * Ends a grant before its time; every replica ends the sessions whose decisions read it. A grant
   * already ended is refused (409), but its end is told again, so a revocation whose event was
   * lost can be repeated.
   */
  async revoke(grantId: string, by: Principal, tokenId: string | null, reason: string): Promise<AccessView> {
    const why = this.mask(parseReason(reason));
    const grant = await this.deps.store.getGrant(grantId);
    if (!grant) throw new NotFound(`no access grant "${grantId}" (list them with: gatehouse access list)`);
    const now = this.now();
    if (grant.status === 'active' && grant.expiresAt <= now) await this.expire([grant.id], now);
    else if (grant.status === 'active' && (await this.deps.store.endGrant(grant.id, 'revoked', now, by.name, why))) {
      await this.audit.record('access.revoked', actorOf(by, tokenId), grant.id, { accessRequest: grant.approvalId, holder: grant.principalName, connection: grant.connection, reason: why });
      this.deps.logger.warn({ grantId: grant.id, holder: grant.principalName, connection: grant.connection, revokedBy: by.name }, 'access grant revoked');
      await this.tell([grant.id], 'revoked');
      return (await this.show(grant.approvalId))!;
    }
    const current = (await this.deps.store.getGrant(grant.id)) ?? grant;
    await this.tell([grant.id], current.status === 'expired' ? 'expired' : 'revoked');
    throw new Conflict(`access grant ${grant.id} is already ${current.status === 'active' ? 'ended' : current.status}; its sessions have been told to end again`);
  }

  /**
   * Issues the grants of requests approved but not yet settled (the replica that decided stopped in
   * between), then marks grants past their end expired, each once, and ends their sessions
   * everywhere; returns how many expired.
   */
  async sweep(): Promise<number> {
    for (const row of await this.deps.store.listApprovalsOfKind(ACCESS_KIND, { status: 'approved', limit: 100 })) await this.settle(row.id);
    const now = this.now();
    const due = await this.deps.store.dueGrants(now);
    return due.length === 0 ? 0 : this.expire(due, now);
  }

  private async expire(ids: readonly string[], now: number): Promise<number> {
    const ended: string[] = [];
    for (const id of ids) {
      if (!(await this.deps.store.endGrant(id, 'expired', now, GATEWAY.name, 'reached its end'))) continue;
      ended.push(id);
      const grant = await this.deps.store.getGrant(id);
      await this.audit.record('access.expired', GATEWAY, id, { accessRequest: grant?.approvalId, holder: grant?.principalName, connection: grant?.connection, grant: true });
      this.deps.logger.info({ grantId: id, holder: grant?.principalName, connection: grant?.connection }, 'access grant expired');
    }
    if (ended.length > 0) await this.tell(ended, 'expired');
    return ended.length;
  }

  private async tell(grantIds: readonly string[], reason: 'revoked' | 'expired'): Promise<void> {
    try {
      await this.deps.coordination.publish({ type: 'grants.ended', grantIds, reason });
    } catch (err) {
      this.deps.logger.error({ err, grantIds }, 'access grants: could not tell the replicas that grants ended; their sessions go on until told');
      throw new StoreError(`the grant ended, but the replicas could not be told to end its sessions; run gatehouse access revoke ${grantIds[0]} again`, { cause: err });
    }
  }

  /** Access requests decided elsewhere than through the API route, and those that lapsed, are settled or recorded here. */
  private async onApprovalEvent(event: ApprovalEvent): Promise<void> {
    const approval = event.approval;
    if (approval.kind !== ACCESS_KIND || event.type !== 'decided') return;
    try {
      if (approval.status === 'approved' || approval.status === 'used') {
        await this.settle(approval.id);
        return;
      }
      // An approval that lapsed after its grant was issued is no transition of the request.
      if (await this.deps.store.getGrant(grantIdOf(approval.id))) return;
      const action: AccessAction = approval.status === 'denied' ? 'access.denied' : approval.status === 'withdrawn' ? 'access.withdrawn' : 'access.expired';
      const vote = approval.votes.find((v) => v.vote === 'deny');
      const actor: AuditActor = vote ? { id: vote.approver, name: vote.approver, kind: 'user', tokenId: null } : GATEWAY;
      await this.audit.record(action, actor, approval.id, { requester: approval.requester.name, connection: approval.connection, ...(vote?.comment ? { reason: vote.comment } : {}) });
      this.deps.logger.info({ accessRequest: approval.id, requester: approval.requester.name, connection: approval.connection, status: approval.status }, `access request ${approval.status}`);
    } catch (err) {
      this.deps.logger.error({ err, accessRequest: approval.id }, 'access grants: could not settle or record a decided access request; the sweep settles it');
    }
  }

  private mask(text: string): string {
    return this.deps.redact ? this.deps.redact(text) : text;
  }

  private async viewOf(row: ApprovalRow): Promise<AccessView> {
    const [votes, grant] = await Promise.all([this.deps.store.listApprovalVotes(row.id), this.deps.store.getGrant(grantIdOf(row.id))]);
    return toAccessView(row, votes, grant, this.now());
  }
}

function actorOf(principal: Pick<Principal, 'id' | 'name' | 'kind'>, tokenId: string | null): AuditActor {
  return { id: principal.id, name: principal.name, kind: principal.kind, tokenId };
}

function parseFor(text: string, maxMs: number, connection: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new InvalidArgument(`for: write a duration such as 30m, 1h or 1h30m (got ${JSON.stringify(String(text).slice(0, 40))})`, { details: { field: 'for' } });
  }
  if (ms < MIN_GRANT_MS) throw new InvalidArgument(`for: at least ${formatDuration(MIN_GRANT_MS)}`, { details: { field: 'for' } });
  if (ms > maxMs) {
    throw new InvalidArgument(`for: access to ${connection} is granted for at most ${formatDuration(maxMs)} (approvals.access.maxDuration); ask for less`, {
      details: { field: 'for', max: formatDuration(maxMs) },
    });
  }
  return ms;
}

function parseReason(text: string): string {
  const reason = typeof text === 'string' ? text.trim() : '';
  if (reason === '' || reason.length > MAX_REASON || CONTROL.test(reason)) {
    throw new InvalidArgument(`reason: say why, in one line of at most ${MAX_REASON} characters without control characters`, { details: { field: 'reason' } });
  }
  return reason;
}
