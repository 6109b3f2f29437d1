/**
 * The changes of an approval other than a vote, each recorded in the audit trail as it is made
 * (approvals/trail.ts says what fails closed): asked for (one pending approval per request, the
 * store deciding between identical requests held at once), used once, withdrawn, expired, and
 * decided as its votes say.
 */
import type { Logger } from 'pino';
import { Conflict, GatewayError } from '../errors.ts';
import type { ApprovalRow, ApprovalVoteRow, Store } from '../store/types.ts';
import { newId } from '../util/ids.ts';
import type { HoldOptions, HoldRequest } from './request.ts';
import { ApprovalTrail, GATEWAY_ACTOR, requesterOf, type TrailActor } from './trail.ts';

export interface TransitionsDeps {
  readonly store: Store;
  readonly logger: Logger;
  readonly replicaId: string;
  readonly now: () => number;
  /** Every replica hears of the change; with `notify` (the default) listeners hear of a decision. */
  readonly changed: (id: string, notify?: boolean) => Promise<void>;
  /** Listeners hear of an approval created. */
  readonly created: (row: ApprovalRow) => void;
}

export class Transitions {
  readonly trail: ApprovalTrail;

  constructor(private readonly deps: TransitionsDeps) {
    this.trail = new ApprovalTrail({ store: deps.store, logger: deps.logger, replicaId: deps.replicaId, now: deps.now });
  }

  /**
   * A new pending approval, unless an identical request of the same principal holds one already
   * (on any replica): the store lets one insert win, and the others wait on the winner's.
   */
  async create(request: HoldRequest, now: number, options: HoldOptions): Promise<ApprovalRow> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const row: ApprovalRow = {
        id: newId('apr', now),
        createdAt: now,
        expiresAt: now + request.timeoutMs,
        status: 'pending',
        fingerprint: request.fingerprint,
        principalId: request.principal.id,
        principalName: request.principal.name,
        tokenId: request.tokenId,
        agent: request.agent,
        connection: request.connection,
        kind: request.kind,
        rule: request.rule,
        approvers: [...request.approvers],
        required: request.required,
        summary: request.summary,
        decidedAt: null,
        usedAt: null,
        replicaId: this.deps.replicaId,
      };
      const entry = await this.trail.begin(
        'approval.created',
        row.id,
        requesterOf(row, request.principal.kind),
        {
          rule: row.rule, connection: row.connection, agent: row.agent, kind: row.kind, approvers: row.approvers, required: row.required,
          expiresAt: row.expiresAt, fingerprint: row.fingerprint, interaction: options.interactionId ?? null,
        },
        true,
      );
      const holder = await this.deps.store.insertPendingApproval(row);
      if (holder.id === row.id) {
        await entry.done(true);
        this.deps.logger.info({ approvalId: row.id, rule: row.rule, requester: row.principalName, connection: row.connection }, 'request held for approval');
        this.deps.created(row);
        return row;
      }
      // An identical request was held first: this one waits on its approval (the row says so).
      await entry.done(false, { target: holder.id, details: { joined: holder.id } });
      if (holder.expiresAt <= now) {
        // Its time is up but nobody marked it yet: mark it, and take the place.
        await this.expire(holder, now);
      } else if (!sameAsk(holder, request)) {
        // Asked under a rule no longer in force (other approvers, or more of them): it cannot stand for this one.
        await this.withdraw(holder, 'rule_changed');
      } else return holder;
    }
    throw new Conflict('the approval of this request kept changing while it was being asked for; send the request again');
  }

  /** The approved request runs: recorded before it is used (no record, no run), once. */
  async use(row: ApprovalRow, request: HoldRequest, options: HoldOptions): Promise<boolean> {
    const now = this.deps.now();
    const used = await this.trail.record(
      'approval.used',
      row.id,
      requesterOf(row, request.principal.kind, request.tokenId),
      // The token may differ from the one the approval was asked with: the same person and agent, e.g. after a refresh.
      { interaction: options.interactionId ?? null, tokenId: request.tokenId, askedWithTokenId: row.tokenId, rule: row.rule, connection: row.connection },
      true,
      () => this.deps.store.useApproval(row.id, now),
    );
    if (used) await this.deps.changed(row.id, false);
    return used;
  }

  /**
   * The client left (or cancelled), its token was revoked, or the rule changed: the approval can
   * never run. An approval approved in the meantime but not used is withdrawn too (the client was
   * told it will not run). Made even when its record cannot be written.
   */
  async withdraw(row: ApprovalRow, reason: unknown): Promise<void> {
    const now = this.deps.now();
    const withdrawn = await this.trail.record('approval.withdrawn', row.id, requesterOf(row), { ...withdrawalReason(reason), rule: row.rule }, false, () =>
      this.deps.store.decideApproval(row.id, 'withdrawn', now).then((done) => done || this.deps.store.decideApproval(row.id, 'withdrawn', now, 'approved')),
    );
    if (withdrawn) await this.deps.changed(row.id);
  }

  /** Marks a pending or approved-unused approval past its expiry expired; made even when its record cannot be written. */
  async expire(row: ApprovalRow, now: number): Promise<boolean> {
    if ((row.status !== 'pending' && row.status !== 'approved') || row.expiresAt > now) return false;
    const expired = await this.trail.record('approval.expired', row.id, GATEWAY_ACTOR, { expiresAt: row.expiresAt, was: row.status, rule: row.rule }, false, () =>
      this.deps.store.expireApproval(row.id, now),
    );
    if (expired) await this.deps.changed(row.id);
    return expired;
  }

  /**
   * Applies to a pending approval the decision its votes made: one deny denies; `required`
   * distinct approvers (never the requester) or one break-glass approval approve. The approval is
   * recorded before it is made (no record, it stays pending and nothing runs; the next read or vote
   * applies it); a denial is made regardless. `by` is the approver whose vote decided, when known.
   */
  async settle(row: ApprovalRow, by?: TrailActor, votes?: readonly ApprovalVoteRow[]): Promise<ApprovalRow> {
    if (row.status !== 'pending') return row;
    const all = votes ?? (await this.deps.store.listApprovalVotes(row.id));
    const decision = decisionOf(row, all);
    if (!decision) return row;
    const actor = by ?? GATEWAY_ACTOR;
    const details =
      decision.to === 'denied'
        ? { reason: decision.deny.comment, deniedBy: decision.deny.approverName, requester: row.principalName, rule: row.rule }
        : { approvedBy: decision.approvers, breakGlass: decision.breakGlass, required: row.required, requester: row.principalName, rule: row.rule };
    const now = this.deps.now();
    const applied = await this.trail.record(`approval.${decision.to}`, row.id, actor, details, decision.to === 'approved', () =>
      this.deps.store.decideApproval(row.id, decision.to, now),
    );
    if (applied) await this.deps.changed(row.id);
    return (await this.deps.store.getApproval(row.id)) ?? row;
  }
}

/**
 * Why a held request's approval was withdrawn, for the trail: `client_left` (the connection closed,
 * a cancel), `rule_changed`, or the code that ended the session (auth_revoked, access_revoked …),
 * with the gateway's own message (never a secret) when there is one.
 */
function withdrawalReason(reason: unknown): { reason: string; message?: string } {
  if (typeof reason === 'string') return { reason };
  if (!(reason instanceof GatewayError)) return { reason: 'client_left' };
  // An adapter aborts with bad_request when its client goes (HTTP closed, MCP cancelled): the client left.
  return { reason: reason.code === 'bad_request' ? 'client_left' : reason.code, message: reason.message };
}

/** Whether an approval was asked under the same rule, approver groups and count as this request is now. */
export function sameAsk(row: Pick<ApprovalRow, 'rule' | 'approvers' | 'required'>, request: Pick<HoldRequest, 'rule' | 'approvers' | 'required'>): boolean {
  if (row.rule !== request.rule || row.required !== request.required || row.approvers.length !== request.approvers.length) return false;
  const groups = new Set(request.approvers);
  return row.approvers.every((group) => groups.has(group));
}

type VoteDecision =
  | { readonly to: 'denied'; readonly deny: ApprovalVoteRow }
  | { readonly to: 'approved'; readonly approvers: string[]; readonly breakGlass: boolean };

/** What an approval's votes decide: one deny denies; `required` distinct approvers (never the requester) or a break-glass approval approve. */
export function decisionOf(row: Pick<ApprovalRow, 'principalId' | 'required'>, votes: readonly ApprovalVoteRow[]): VoteDecision | null {
  const deny = votes.find((v) => v.vote === 'deny');
  if (deny) return { to: 'denied', deny };
  const approving = votes.filter((v) => v.vote === 'approve' && v.approverId !== row.principalId);
  const breakGlass = approving.some((v) => v.breakGlass);
  const distinct = new Set(approving.map((v) => v.approverId));
  if (!breakGlass && distinct.size < row.required) return null;
  return { to: 'approved', approvers: [...new Set(approving.map((v) => v.approverName))], breakGlass };
}
