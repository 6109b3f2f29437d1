/**
 * Approvals: a request a rule holds waits here for people. The store keeps every approval (so a
 * held request survives restarts and is seen by every replica); each change of status is a
 * conditional update, published as `approval.decided` so a request held on any replica looks again
 * at once, with a poll as the fallback for an event that never arrives.
 */
import type { Logger } from 'pino';
import { Conflict, GatewayError, InvalidArgument, NotFound } from '../errors.ts';
import type { Principal } from '../interaction.ts';
import type { RoleGrant } from '../identity/roles.ts';
import type { Coordination } from '../store/coordination.ts';
import type { ApprovalRow, ApprovalStatus, Store } from '../store/types.ts';
import { checkDecider, currentDecider, ownsRequester } from './deciders.ts';
import type { HoldOptions, HoldRequest } from './request.ts';
import { REAL_TIMERS, repeatAfter, type Timers } from './timers.ts';
import { actorOf } from './trail.ts';
import { decisionOf, sameAsk, Transitions } from './transitions.ts';
import { toView, type ApprovalView } from './view.ts';
import { Waiters } from './waiters.ts';

export interface ApprovalsDeps {
  readonly store: Store;
  readonly coordination: Pick<Coordination, 'replicaId' | 'publish' | 'subscribe'>;
  readonly logger: Logger;
  /** identity.roles as configured now: deciding needs the approver (or admin) role. */
  readonly roleGrants: () => readonly RoleGrant[];
  /** approvals.breakGlassGroups: a member's approval is enough alone (recorded, logged at warn). */
  readonly breakGlassGroups?: () => readonly string[];
  readonly now?: () => number;
  readonly timers?: Timers;
  /** How often a held request looks again without an event (a NOTIFY lost between replicas). */
  readonly pollMs?: number;
  /** How often approvals past their expiry are marked expired. */
  readonly sweepMs?: number;
}

export type { HoldOptions, HoldRequest } from './request.ts';

export type HoldOutcome =
  | { readonly state: 'approved'; readonly id: string }
  | { readonly state: 'pending' | 'denied' | 'expired' | 'withdrawn'; readonly id: string; readonly required: number; readonly expiresAt: number };

/** For notifications: an approval was created, or reached a decision (approved, denied, expired, withdrawn). */
export interface ApprovalEvent {
  readonly type: 'created' | 'decided';
  readonly approval: ApprovalView;
}

type WaitState = Exclude<ApprovalStatus, 'pending'> | 'pending';

const MAX_COMMENT = 2_000;
// Line breaks and tabs are fine in a comment; other control characters could rewrite an approver's terminal.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const DECIDED: readonly ApprovalStatus[] = ['approved', 'denied', 'expired', 'withdrawn'];
/** How often a request retries after the approval it waited for was used by an identical request first. */
const MAX_ROUNDS = 3;

export class Approvals {
  private readonly waiters = new Waiters();
  private readonly listeners = new Set<(event: ApprovalEvent) => void>();
  private readonly now: () => number;
  private readonly timers: Timers;
  private readonly pollMs: number;
  private readonly unsubscribe: () => void;
  private cancelSweep: (() => void) | null = null;
  private readonly transitions: Transitions;

  constructor(private readonly deps: ApprovalsDeps) {
    this.now = deps.now ?? Date.now;
    this.transitions = new Transitions({
      store: deps.store,
      logger: deps.logger,
      replicaId: deps.coordination.replicaId,
      now: () => this.now(),
      changed: (id, notify) => this.changed(id, notify),
      created: (row) => this.emit('created', row),
    });
    this.timers = deps.timers ?? REAL_TIMERS;
    this.pollMs = deps.pollMs ?? 1_000;
    this.unsubscribe = deps.coordination.subscribe((event) => {
      if (event.type === 'approval.decided') this.waiters.wake(event.approvalId);
    });
  }

  /** Starts the expiry sweep. */
  start(): void {
    this.cancelSweep = repeatAfter(this.timers, this.deps.sweepMs ?? 30_000, () => this.sweep(), (err) =>
      this.deps.logger.warn({ err }, 'approvals: the expiry sweep failed; it runs again'),
    );
  }

  /**
   * Releases every request held here without deciding anything (a gateway stopping): their
   * approvals stay pending, so they survive the restart.
   */
  stop(): void {
    this.cancelSweep?.();
    this.cancelSweep = null;
    this.waiters.stop();
    this.unsubscribe();
  }

  /** Requests held on this replica now. */
  get holding(): number {
    return this.waiters.size;
  }

  /** Listens for approvals created and decided on this replica (notifications); returns the unsubscribe. */
  onEvent(listener: (event: ApprovalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async get(id: string): Promise<ApprovalView | null> {
    const row = await this.deps.store.getApproval(id);
    if (!row) return null;
    return this.view(await this.lapse(row));
  }

  /** Newest first; approvals past their expiry are marked expired first. */
  async list(filter: { status?: ApprovalStatus; principalId?: string; limit: number }): Promise<ApprovalView[]> {
    await this.sweep();
    const rows = await this.deps.store.listApprovals(filter);
    return Promise.all(rows.map((row) => this.view(row)));
  }

  /**
   * One approver's vote. Refused (and nothing stored) for someone without the approver or admin
   * role, outside the approver groups (break-glass groups aside), approving their own request,
   * voting twice, or on an approval no longer pending. One deny denies; `required` distinct
   * approvals (or one break-glass approval) approve.
   */
  async decide(id: string, approver: Principal, vote: 'approve' | 'deny', comment: string | null, tokenId: string | null = null): Promise<ApprovalView> {
    if (comment !== null && (comment.length > MAX_COMMENT || CONTROL.test(comment))) {
      throw new InvalidArgument(`comment: at most ${MAX_COMMENT} characters, without control characters`);
    }
    const { store } = this.deps;
    const now = this.now();
    const found = await store.getApproval(id);
    if (!found) throw new NotFound(`no approval "${id}" (list them with: gatehouse approvals list)`);
    // A decision its votes already made (its record failed to be written before) is applied first.
    const row = await this.transitions.settle(await this.lapse(found, now));
    if (row.status !== 'pending') {
      throw new Conflict(`approval ${id} is ${row.status}${row.status === 'expired' ? ` (at ${new Date(row.expiresAt).toISOString()})` : ''}; only a pending approval can be decided`);
    }
    if (await this.askerRevoked(row)) throw new Conflict(`approval ${id} was withdrawn: the token that asked for it (${row.tokenId}) has been revoked, so it can never run`);
    const decider = await currentDecider(this.deps.store, approver);
    const owns = vote === 'approve' && (await ownsRequester(this.deps.store, decider, row.principalId));
    const { breakGlass } = checkDecider(decider, row, vote, this.deps.roleGrants(), this.deps.breakGlassGroups?.() ?? [], owns);
    const actor = actorOf(decider, tokenId);
    // An approving vote is recorded before it counts (the store failing, it is refused); a deny counts regardless.
    const entry = await this.transitions.trail.begin(
      breakGlass ? 'approval.break_glass' : 'approval.voted',
      id,
      actor,
      { vote, comment, breakGlass, requester: row.principalName, rule: row.rule, connection: row.connection },
      vote === 'approve',
    );
    let stored: boolean;
    try {
      stored = await store.insertApprovalVote({ approvalId: id, approverId: decider.id, approverName: decider.name, vote, comment, at: now, breakGlass }, now);
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'conflict') {
        await entry.done(false, { details: { refused: 'already voted' } });
        throw new Conflict(`${decider.name} already voted on approval ${id}: each approver votes once`);
      }
      throw err;
    }
    await entry.done(stored);
    if (!stored) {
      const current = await store.getApproval(id);
      throw new Conflict(`approval ${id} is ${current?.status ?? 'gone'}; only a pending approval can be decided`);
    }
    if (breakGlass) this.deps.logger.warn({ approvalId: id, approver: decider.name, rule: row.rule, requester: row.principalName }, 'break-glass approval: one approver approved alone');
    this.deps.logger.info({ approvalId: id, approver: decider.name, vote, breakGlass }, 'approval vote');
    const settled = await this.transitions.settle(row, actor);
    if (vote === 'deny' && settled.status !== 'denied') {
      // Approved by a vote stored just before this one: the deny is on record, but the request may run (or have run).
      throw new Conflict(`approval ${id} was ${settled.status} by another approver just before your deny; your deny is recorded but did not stop it`);
    }
    return (await this.get(id))!;
  }

  /**
   * Holds a request: uses an approved, unused, unexpired approval of this exact request by this
   * identity if there is one (it runs once); otherwise waits, up to `waitMs`, on the pending approval
   * of the same request or a new one. A client gone (signal) withdraws it.
   */
  async hold(request: HoldRequest, options: HoldOptions): Promise<HoldOutcome> {
    const { store } = this.deps;
    let last: ApprovalRow | null = null;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const now = this.now();
      for (const approved of await store.findLiveApprovals(request.principal.id, request.fingerprint, 'approved', now)) {
        // Given under another rule (the policy changed since): it proves nothing about who must approve now.
        if (!sameAsk(approved, request)) continue;
        if (await this.askerRevoked(approved)) continue;
        if (await this.transitions.use(approved, request, options)) return { state: 'approved', id: approved.id };
      }
      const found = (await store.findLiveApprovals(request.principal.id, request.fingerprint, 'pending', now))[0];
      const row = found && sameAsk(found, request) && !(await this.askerRevoked(found)) ? found : await this.transitions.create(request, now, options);
      last = row;
      options.onCreated?.(row);
      const state = await this.wait(row, options);
      if (state === 'approved') {
        if (await this.transitions.use(row, request, options)) return { state: 'approved', id: row.id };
        continue;
      }
      // An identical request used this approval first: this one asks again.
      if (state === 'used') continue;
      return { state, id: row.id, required: row.required, expiresAt: row.expiresAt };
    }
    return { state: 'pending', id: last!.id, required: last!.required, expiresAt: last!.expiresAt };
  }

  /**
   * Whether the token that asked for an approval was revoked (a stolen token's requests go with
   * it; one merely expired is replaced by the same agent's next token, which may run the request).
   * Such an approval is withdrawn. (Token rows are never deleted, so an unknown id is not a revoked one.)
   */
  private async askerRevoked(row: ApprovalRow): Promise<boolean> {
    if (row.tokenId === null) return false;
    const [state] = await this.deps.store.tokenStates([row.tokenId]);
    if (state === undefined || state.revokedAt === null) return false;
    await this.transitions.withdraw(row, 'token_revoked');
    return true;
  }

  /** Marks approvals past their expiry expired; returns how many. */
  async sweep(): Promise<number> {
    const now = this.now();
    let expired = 0;
    for (const id of await this.deps.store.dueApprovals(now)) {
      const row = await this.deps.store.getApproval(id);
      if (row && (await this.transitions.expire(row, now))) expired++;
    }
    return expired;
  }

  /** Resolves with the approval's state once it is no longer pending, the wait runs out, or the client leaves. */
  private wait(row: ApprovalRow, { signal, waitMs }: HoldOptions): Promise<WaitState> {
    if (waitMs <= 0 || this.waiters.isStopped) return Promise.resolve('pending');
    const deadline = this.now() + waitMs;
    return new Promise<WaitState>((resolve) => {
      let settled = false;
      let looking = false;
      let again = false;
      let cancelTimer = () => {};
      const finish = (state: WaitState) => {
        if (settled) return;
        settled = true;
        cancelTimer();
        remove();
        signal?.removeEventListener('abort', onAbort);
        resolve(state);
      };
      const schedule = () => {
        if (settled) return;
        cancelTimer();
        const now = this.now();
        cancelTimer = this.timers.after(Math.max(0, Math.min(this.pollMs, deadline - now, row.expiresAt - now)), () => void look());
      };
      const look = async (): Promise<void> => {
        if (settled) return;
        if (looking) {
          again = true;
          return;
        }
        looking = true;
        try {
          do {
            again = false;
            const found = await this.deps.store.getApproval(row.id);
            if (settled) return;
            // Read after the store answered: the clock may have moved meanwhile.
            const now = this.now();
            // Gone from the store: it can never be approved, so the request never runs.
            if (!found) return finish('expired');
            const current = await this.lapse(found, now);
            if (current.status !== 'pending') return finish(current.status);
            if (now >= deadline) return finish('pending');
          } while (again);
          schedule();
        } catch (err) {
          this.deps.logger.warn({ err, approvalId: row.id }, 'approvals: could not read a held request\'s approval; looking again');
          if (this.now() >= deadline) finish('pending');
          else schedule();
        } finally {
          looking = false;
        }
      };
      const onAbort = () => {
        if (settled) return;
        this.transitions.withdraw(row, signal?.reason).then(
          () => finish('withdrawn'),
          (err) => {
            this.deps.logger.error({ err, approvalId: row.id }, 'approvals: could not withdraw the approval of a client that left');
            finish('withdrawn');
          },
        );
      };
      const remove = this.waiters.add(row.id, () => void look(), () => finish('pending'));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      void look();
    });
  }

  /** A pending or approved approval past its expiry becomes expired (read lazily as well as swept). */
  private async lapse(row: ApprovalRow, now = this.now()): Promise<ApprovalRow> {
    if ((row.status !== 'pending' && row.status !== 'approved') || row.expiresAt > now) return row;
    await this.transitions.expire(row, now);
    return (await this.deps.store.getApproval(row.id)) ?? row;
  }

  /** Every replica hears of the change; this one tells its listeners of a decision. */
  private async changed(id: string, notify = true): Promise<void> {
    try {
      await this.deps.coordination.publish({ type: 'approval.decided', approvalId: id });
    } catch (err) {
      // The change is stored: requests held elsewhere see it at their next poll.
      this.deps.logger.warn({ err, approvalId: id }, 'approvals: could not publish a change; other replicas see it at their next poll');
    }
    if (!notify || this.listeners.size === 0) return;
    const row = await this.deps.store.getApproval(id);
    if (row && DECIDED.includes(row.status)) this.emit('decided', row);
  }

  private emit(type: ApprovalEvent['type'], row: ApprovalRow): void {
    if (this.listeners.size === 0) return;
    void this.deps.store.listApprovalVotes(row.id).then((votes) => {
      const event: ApprovalEvent = { type, approval: toView(row, votes) };
      for (const listener of [...this.listeners]) {
        try {
          listener(event);
        } catch (err) {
          this.deps.logger.error({ err, approvalId: row.id }, 'approvals: a listener failed');
        }
      }
    }, (err) => this.deps.logger.error({ err, approvalId: row.id }, 'approvals: could not read votes for a listener'));
  }

  private async view(row: ApprovalRow): Promise<ApprovalView> {
    const votes = await this.deps.store.listApprovalVotes(row.id);
    if (row.status !== 'pending' || !decisionOf(row, votes)) return toView(row, votes);
    // Its votes decided it but the decision was not applied (the store failed while recording it): apply it now.
    try {
      return toView(await this.transitions.settle(row, undefined, votes), votes);
    } catch (err) {
      this.deps.logger.error({ err, approvalId: row.id }, 'approvals: could not apply the decision the votes made; it stays pending');
      return toView(row, votes);
    }
  }
}
