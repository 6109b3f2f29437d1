/**
 * The runner: every request on every protocol goes through `Pipeline.run`, which walks the stages
 * of src/runtime-state.ts in order, records every refusal itself and completes each record exactly
 * once. Adapters implement the contract declared in src/adapter-contract.ts and nothing more.
 */
import type { Logger } from 'pino';
import { AccessEnded, ApprovalPending, ApprovalRefused, AuthError, BadRequest, GatewayError, GatewayStopping, LimitExceeded, MaskingError, PolicyDenied, StoreError, toGatewayError, UnknownConnection } from './errors.ts';
import type { ConnectionInfo, Decision, Interaction, InteractionKind, RequestSummary } from './interaction.ts';
import type { AuthContext, Credentials } from './identity/credentials.ts';
import type { CredentialWatch, EndReason } from './identity/credential-watch.ts';
import type { GrantFact, GrantsInput, LimitTracker } from './policy/types.ts';
import { GrantLinks, type GrantEnd } from './approvals/grant-links.ts';
import { maskRequestBody, responseMaskerFor, SECRET_TYPES, type MaskProfile, type ResponseMasker, type ResponseTarget } from './masking/index.ts';
import type { Recorder, InteractionOutcome, OpenInteraction } from './audit/recorder.ts';
import { newId } from './util/ids.ts';
import { InFlight } from './util/in-flight.ts';
import type { Metrics } from './metrics.ts';
import type { ConnectionPlan, RuntimeState } from './runtime-state.ts';
import { approvalRequest } from './approvals/request.ts';
import type { Approvals } from './approvals/service.ts';
import type {
  Admission,
  DraftSource,
  Forward,
  ForwardResult,
  LoginRequest,
  RequestBody,
  RequestDraft,
  RequestLine,
  RunOptions,
  Session,
  SlotScope,
} from './adapter-contract.ts';

export type { Admission, Forward, ForwardResult, RequestBody, RequestDraft, RunOptions, Session, SlotScope } from './adapter-contract.ts';

export interface PipelineDeps {
  readonly credentials: Pick<Credentials, 'verify' | 'authorizeConnection'> & Partial<Pick<Credentials, 'verifyProven'>>;
  readonly watch: Pick<CredentialWatch, 'watch'>;
  /** The current runtime state; read once per request. */
  readonly state: () => RuntimeState;
  /** The connection a name selects, or undefined when there is none. */
  readonly connections: (name: string) => ConnectionInfo | undefined;
  readonly limits: LimitTracker;
  readonly recorder: Recorder;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Largest response body read whole to be masked (http.bodyLimit), and how much of one the recording keeps. */
  readonly responseLimits: { readonly maxBodyBytes: number; readonly transcriptBytes: number };
  /** How many refusals of callers without a valid credential are stored per minute; the rest are only counted. */
  readonly anonymousRecordsPerMinute?: number;
  readonly now?: () => number;
  /** The hold stage: requests a rule sends for approval wait here. */
  readonly approvals: Pick<Approvals, 'hold'>;
  /** The caller's live just-in-time grants for a connection, read only when a rule's condition reads `grants`. */
  readonly grants?: { live(principalId: string, connection: string): Promise<readonly GrantFact[]> };
}

const NO_ENTITIES: readonly string[] = Object.freeze([]);
const NO_GRANTS: readonly string[] = Object.freeze([]);
const MAX_ANONYMOUS_SESSIONS = 1_000;
const ANONYMOUS_RECORDS_PER_MINUTE = 600;
/** Callers choose connection names: a metric label per made-up name would grow without bound. */
const UNKNOWN_CONNECTION_LABEL = '<unknown>';

export class Pipeline {
  private readonly anonymousSessions = new Map<string, Promise<string>>();
  private readonly sharedSessions = new Map<string, Promise<Session>>();
  /** Slots held for a whole session (scope 'session'), released by Session.close. */
  private readonly sessionSlots = new WeakMap<Session, () => void>();
  /** Sessions closed: a slot or a forward that arrives after the close must not outlive it. */
  private readonly closedSessions = new WeakSet<Session>();
  private readonly underWay = new InFlight();
  /** Sessions whose decisions read just-in-time grants: a grant revoked or expired ends them. */
  private readonly grantLinks = new GrantLinks<Session>();
  private readonly sessionEnds = new WeakMap<Session, (reason: Error) => void>();
  private stopping = false;
  /** Anyone can send requests without a credential: what they cost the store is bounded per minute. */
  private anonymousWindow = { minute: -1, recorded: 0 };

  constructor(private readonly deps: PipelineDeps) {}

  /** A fresh id for a request, shown to its client (x-request-id) and recorded as its interaction's id. */
  requestId(): string {
    return newId('int');
  }

  /**
   * Stage 1: finds the connection, verifies the credential and its scope for it. Every refusal is
   * recorded; the returned error is what the adapter renders.
   */
  async login(request: LoginRequest): Promise<{ auth: AuthContext; connection: ConnectionInfo }> {
    const connection = this.deps.connections(request.connection);
    if (connection === undefined || (request.type !== undefined && connection.type !== request.type)) {
      const error = new UnknownConnection(
        request.type === 'postgres'
          ? `no postgres connection named "${request.connection}" (the database name selects the connection)`
          : `no connection named "${request.connection}" (list them with: gatehouse connections list)`,
      );
      throw await this.refuseLogin(request, error);
    }
    let auth: AuthContext;
    try {
      auth =
        request.provenTokenId === undefined || this.deps.credentials.verifyProven === undefined
          ? await this.deps.credentials.verify(request.secret, 'agent')
          : await this.deps.credentials.verifyProven(request.provenTokenId, 'agent');
    } catch (err) {
      throw await this.refuseLogin(request, toGatewayError(err));
    }
    try {
      this.deps.credentials.authorizeConnection(auth, connection.name);
    } catch (err) {
      // The caller is known: the refusal is theirs on record, not an anonymous one.
      throw await this.refuseLogin(request, toGatewayError(err), auth);
    }
    return { auth, connection };
  }

  /**
   * Records a refusal of an adapter's own login step (a protocol option it cannot honour, an
   * upstream that cannot be reached) and returns the error to render.
   */
  async refuseLogin(request: Omit<LoginRequest, 'secret'>, error: GatewayError, who?: AuthContext): Promise<GatewayError> {
    const known = this.deps.connections(request.connection) !== undefined;
    await this.recordRefusal(request.connection, known, request.protocol, request.clientAddr, error, request.line, who, request.requestId);
    return error;
  }

  /** Opens a recorded session that ends by itself when its credential is revoked or expires. */
  async openSession(
    auth: AuthContext,
    connection: ConnectionInfo,
    protocol: string,
    clientAddr: string | null,
    startup?: Readonly<Record<string, string>>,
  ): Promise<Session> {
    if (this.stopping) throw new GatewayStopping('this gateway replica is stopping and opens no new session; retry, and the load balancer sends you to another');
    const recorded = await this.deps.recorder.openSession({
      principalId: auth.principal.id,
      principalName: auth.principal.name,
      tokenId: auth.credential.tokenId,
      connection: connection.name,
      protocol,
      clientAddr,
      ...(startup ? { startup } : {}),
      ...(auth.credential.agent ? { agentId: auth.credential.agent.id } : {}),
    });
    const controller = new AbortController();
    const slots = this.sessionSlots;
    const unwatch = this.deps.watch.watch(auth.credential.tokenId, auth.credential.expiresAt, (reason: EndReason) => {
      controller.abort(new AuthError(reason === 'expired' ? 'auth_expired' : 'auth_revoked', `credential ${reason}; session ended`));
    });
    let closed = false;
    const session: Session = {
      id: recorded.id,
      auth,
      connection,
      protocol,
      clientAddr,
      ended: controller.signal,
      close: async (reason) => {
        if (closed) return;
        closed = true;
        this.closedSessions.add(session);
        this.grantLinks.unlink(session);
        slots.get(session)?.();
        slots.delete(session);
        unwatch();
        await this.deps.recorder.endSession(recorded.id, controller.signal.aborted ? String((controller.signal.reason as Error).message) : reason);
      },
    };
    this.sessionEnds.set(session, (reason) => controller.abort(reason));
    return session;
  }

  /**
   * Ends, on this replica, every live session a decision of which read one of these grants (they
   * were revoked or expired); every replica applies the same coordination event.
   */
  endSessionsUsingGrants(grantIds: readonly string[], end: GrantEnd): number {
    const ended = this.grantLinks.end(grantIds, end);
    for (const { session, grantId } of ended) this.endForGrant(session, grantId, end);
    if (ended.length > 0) this.deps.logger.info({ grantIds, sessions: ended.length, end }, 'sessions relying on ended access grants were ended');
    return ended.length;
  }

  private endForGrant(session: Session, grantId: string, end: GrantEnd): void {
    this.sessionEnds.get(session)?.(new AccessEnded(end === 'revoked' ? 'access_revoked' : 'access_expired', grantId));
  }

  /** Remembers which grants a session's decision read; one that ended meanwhile ends the session now. */
  private linkGrants(session: Session, grantIds: readonly string[]): void {
    if (grantIds.length === 0) return;
    const ended = this.grantLinks.link(session, grantIds);
    if (ended) this.endForGrant(session, ended.grantId, ended.end);
  }

  /**
   * Login and the session for a run of calls with one credential on one connection (HTTP): opened
   * on first use, closed when the credential is revoked or expires.
   */
  async sharedSession(request: LoginRequest): Promise<Session> {
    const { auth, connection } = await this.login(request);
    const key = `${auth.credential.tokenId}\u0000${connection.name}`;
    let session = this.sharedSessions.get(key);
    if (!session) {
      session = this.openSession(auth, connection, request.protocol, request.clientAddr);
      this.sharedSessions.set(key, session);
      session.then(
        (s) =>
          s.ended.addEventListener('abort', () => {
            this.sharedSessions.delete(key);
            void s.close('credential ended').catch((err) => this.deps.logger.error({ err }, 'could not close session'));
          }),
        () => this.sharedSessions.delete(key),
      );
    }
    try {
      return await session;
    } catch (err) {
      throw await this.refuseLogin(request, toGatewayError(err), auth);
    }
  }

  /** Closes every shared session (gateway shutdown). */
  /** A stop's drain began: sessions already open go on, no new one is opened. */
  stopOpeningSessions(): void {
    this.stopping = true;
  }

  async closeSessions(reason: string): Promise<void> {
    this.stopping = true;
    const sessions = [...this.sharedSessions.values()];
    this.sharedSessions.clear();
    await Promise.allSettled(sessions.map(async (s) => (await s).close(reason)));
  }

  /**
   * Runs one request from its draft to its record: classify, decide, hold, mask the request, open
   * the record (write-ahead), forward, and complete the record exactly once, in `finally`, where the
   * request's slot is released too. Resolves when the record is complete; rejects with the
   * GatewayError the adapter renders (already recorded) when the request was refused or failed.
   */
  async run(session: Session, source: DraftSource, forward: Forward, options: RunOptions = {}): Promise<void> {
    this.underWay.enter();
    try {
      await this.runOnce(session, source, forward, options);
    } finally {
      this.underWay.leave();
    }
  }

  /** A stop's drain: resolves once no request is between its draft and its record's completion. */
  idle(): Promise<void> {
    return this.underWay.idle();
  }

  get requestsUnderWay(): number {
    return this.underWay.size;
  }

  /**
   * How text that reaches a session outside any request (a database's NOTIFY payload) is masked:
   * no decision says which profile applies, so every profile a rule for the session's connection
   * names applies, in turn; null when none can. The function throws when a profile is missing or
   * fails, and the caller withholds the text. Read per call, so a reload applies at once.
   */
  sessionTextMasker(session: Session): ((text: string) => string) | null {
    const state = this.deps.state();
    const policy = state.plan(session.connection).policy;
    const names = policy.maskingProfiles ?? (policy.masks ? null : []);
    if (names !== null && names.length === 0) return null;
    return (text) => {
      if (names === null) throw new MaskingError('the policy does not list the masking profiles it names');
      let out = text;
      for (const name of names) {
        const profile = state.masking.get(name);
        if (!profile) throw new MaskingError(`masking profile "${name}" does not exist`);
        out = profile.maskText(out).text;
      }
      return out;
    };
  }

  private async runOnce(session: Session, source: DraftSource, forward: Forward, options: RunOptions): Promise<void> {
    const state = this.deps.state();
    const requestId = options.requestId ?? this.requestId();
    const plan = state.plan(session.connection);

    let draft: RequestDraft;
    try {
      draft = typeof source === 'function' ? await source() : source;
    } catch (err) {
      throw await this.refuse(session, state, requestId, options.line ?? UNDESCRIBED, toGatewayError(err), 'deny', null);
    }
    const line: RequestLine = { kind: draft.kind, method: draft.method, target: draft.target };

    let summary: RequestSummary;
    let decision: Decision;
    // The ids of the grants the decision read (recorded with it); none when no condition read them.
    let consulted = NO_GRANTS;
    try {
      const entities = plan.detectsEntities && draft.scanText ? state.detectEntities(draft.scanText) : NO_ENTITIES;
      summary = { ...draft.summary, entities };
      const grants = plan.policy.readsGrants && this.deps.grants ? await this.grantsOf(session) : undefined;
      decision = this.decide(plan, session, draft.kind, summary, grants);
      if (grants?.consulted) consulted = grants.items.map((g) => g.id);
    } catch (err) {
      throw await this.refuse(session, state, requestId, line, toGatewayError(err), 'deny', null, draft);
    }
    this.linkGrants(session, consulted);
    if (decision.action === 'deny') throw await this.refuse(session, state, requestId, line, new PolicyDenied(decision.rule, decision.reason), 'deny', decision, draft, consulted);
    // The hold stage, before limits: a held request takes no rate slot while it waits; limits count it when it runs.
    const approvalId = decision.action === 'approve' ? await this.hold(session, state, requestId, line, decision, draft, summary, options) : null;

    let release: (() => void) | null = null;
    try {
      release = await this.takeLimits(session, decision, summary, options.slot ?? 'request');
    } catch (err) {
      const error = toGatewayError(err);
      throw await this.refuse(session, state, requestId, line, error, err instanceof LimitExceeded ? 'limit' : 'deny', decision, draft, consulted);
    }

    let record: OpenInteraction | null = null;
    let outcome: InteractionOutcome | null = null;
    let unlink: (() => void) | null = null;
    try {
      let profile: MaskProfile | null;
      let body: RequestBody;
      try {
        // One scan budget for everything this request masks, request and response, on any protocol.
        profile = profileFor(state, decision)?.forRequest() ?? null;
        body = profile ? maskRequestBody(profile, draft.body) : draft.body;
      } catch (err) {
        const error = err instanceof GatewayError ? err : new MaskingError('request masking failed; the request was not sent', { cause: err });
        throw await this.refuse(session, state, requestId, line, error, 'allow', decision, draft);
      }

      try {
        record = await this.deps.recorder.open(
          session.id,
          {
            kind: draft.kind,
            method: draft.method,
            // The target may be SQL text carrying values: recorded as masked as the body.
            target: profile && draft.target ? maskedTarget(profile, draft.target, draft.body, body) : draft.target,
            model: draft.model,
            summary: {
              ...recordableSummary(summary),
              ...(approvalId === null ? {} : { approval: approvalId }),
              ...(consulted === NO_GRANTS ? {} : { grants: consulted }),
            },
            bytesIn: draft.bytesIn,
            decision: approvalId === null ? 'allow' : 'approve',
            rule: decision.rule,
            reason: null,
            requestBody: recordableBody(body),
          },
          // A profile with every secret detector already scanned the bodies (a body it left unchanged
          // is one it found nothing in: JSON naming a key twice is refused under a profile), so
          // scanning them again would find nothing; every other field is redacted whatever the profile.
          { id: requestId, redact: state.redact, secretsMasked: profile !== null && coversSecrets(profile) },
        );
      } catch (err) {
        // Nothing is forwarded without its write-ahead record.
        this.deps.logger.error({ err, connection: session.connection.name }, 'could not record a request; it was refused');
        throw err instanceof GatewayError ? err : new StoreError('the audit store is unavailable; the request was not sent', { cause: err });
      }

      const interaction: Interaction = {
        id: record.row.id,
        sessionId: session.id,
        kind: draft.kind,
        identity: session.auth.principal,
        credential: session.auth.credential,
        connection: session.connection,
        summary,
        startedAt: record.row.startedAt,
      };
      const ends = either(options.signal, session.ended);
      unlink = ends.unlink;
      const admission = this.admission(interaction, decision, body, profile, ends.signal);
      try {
        const result = await forward(admission);
        outcome = toOutcome(result);
        if (result.usage) this.chargeUsage(session, summary, result.usage);
        if (result.error) throw result.error;
      } catch (err) {
        const error = toGatewayError(err);
        // A client that left is told nothing: its request is recorded as abandoned.
        const clientGone = options.signal?.aborted === true && !session.ended.aborted;
        outcome ??= { status: 'complete', responseStatus: error.status, responseBody: null, errorCode: clientGone ? 'client_aborted' : error.code, bytesOut: 0 };
        if (!clientGone) throw error;
      }
    } finally {
      release?.();
      unlink?.();
      if (record !== null) {
        const final = outcome ?? { status: 'interrupted', responseStatus: null, responseBody: null, errorCode: null, bytesOut: 0 };
        this.count(session.connection.name, draft.kind, decision.action, final.errorCode ?? String(final.responseStatus ?? 'ok'));
        this.deps.metrics.latency.observe({ connection: session.connection.name }, (Date.now() - record.row.startedAt) / 1000);
        await record.complete(final);
      }
    }
  }

  /**
   * Stage 4: waits for people. Returns the id of the approval the request runs under (used now,
   * once); otherwise records the refusal and throws it: pending (ask an approver, then retry the
   * same request), denied, expired, or withdrawn because the client left.
   */
  private async hold(
    session: Session,
    state: RuntimeState,
    requestId: string,
    line: RequestLine,
    decision: Extract<Decision, { action: 'approve' }>,
    draft: RequestDraft,
    summary: RequestSummary,
    options: RunOptions,
  ): Promise<string> {
    const ends = either(options.signal, session.ended);
    try {
      // Approvers read the request masked by the rule's profile, and never a secret whatever the profile.
      const profile = profileFor(state, decision);
      const mask = (text: string) => state.redact(profile ? profile.maskText(text).text : text);
      const request = approvalRequest(session, decision, draft, summary, mask);
      const waitMs = options.hold === undefined ? 0 : options.hold.until === 'expiry' ? decision.timeoutMs : decision.waitMs;
      const outcome = await this.deps.approvals.hold(request, { signal: ends.signal, waitMs, onCreated: options.hold?.onCreated, interactionId: requestId });
      if (outcome.state === 'approved') {
        // The token may have expired while people decided; the credential watch would end the session, but only at its next sweep.
        const { expiresAt, tokenId } = session.auth.credential;
        if (expiresAt !== null && expiresAt <= Date.now()) throw new AuthError('auth_expired', `token ${tokenId} expired while its request waited for approval; ask for a new one and send the request again`);
        return outcome.id;
      }
      throw outcome.state === 'pending'
        ? new ApprovalPending(decision.rule, decision.approvers, outcome)
        : new ApprovalRefused(`approval_${outcome.state}`, decision.rule, outcome.id);
    } catch (err) {
      if (!(err instanceof GatewayError)) this.deps.logger.error({ err, connection: session.connection.name }, 'the hold stage failed; the request was refused');
      const error = err instanceof GatewayError ? err : new MaskingError('the request could not be summarised for approvers; it was not sent', { cause: err });
      throw await this.refuse(session, state, requestId, line, error, 'approve', decision, draft);
    } finally {
      ends.unlink();
    }
  }

  /** The caller's live grants for the session's connection, for conditions that read `grants`. */
  private async grantsOf(session: Session): Promise<GrantsInput> {
    try {
      return { items: await this.deps.grants!.live(session.auth.principal.id, session.connection.name), consulted: false };
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new StoreError('the access grants could not be read; the request was not sent', { cause: err });
    }
  }

  private decide(plan: ConnectionPlan, session: Session, kind: InteractionKind, summary: RequestSummary, grants?: GrantsInput): Decision {
    try {
      return plan.policy.decide({
        identity: session.auth.principal,
        credential: session.auth.credential,
        connection: session.connection,
        kind,
        summary,
        time: new Date(),
        ...(grants ? { grants } : {}),
      });
    } catch (err) {
      // Policy must never throw; if it does, nothing goes through.
      this.deps.logger.error({ err }, 'policy evaluation failed; denying');
      return {
        action: 'deny',
        rule: '<error>',
        reason: 'policy evaluation failed; the request was denied',
        obligations: { maskingProfile: null, limits: {} },
      };
    }
  }

  /**
   * What a response reported it used, less the estimate already counted before it was sent
   * (providers/: every LLM provider's usage). In the background: the answer is already out.
   */
  private chargeUsage(session: Session, summary: RequestSummary, usage: { readonly inputTokens: number; readonly outputTokens: number }): void {
    const extra = usage.outputTokens + Math.max(0, usage.inputTokens - (summary.llm?.estimatedInputTokens ?? 0));
    const charge = this.deps.limits.chargeTokens?.(session.auth.principal.id, extra);
    charge?.catch((err: unknown) => this.deps.logger.warn({ err }, 'counting reported LLM tokens failed'));
  }

  /** Counts the request against its limits and takes its concurrency slot; returns the release for a per-request slot. */
  private async takeLimits(session: Session, decision: Decision, summary: RequestSummary, scope: SlotScope): Promise<(() => void) | null> {
    const { limits } = this.deps;
    const spec = decision.obligations.limits;
    const principal = session.auth.principal.id;
    await limits.consume(principal, spec, summary.llm?.estimatedInputTokens ?? 0);
    if (scope === 'request') return limits.acquireSession(principal, session.connection.name, spec);
    // taken on the first admitted statement, under that decision's limits, until the session closes
    if (!this.sessionSlots.has(session)) {
      const release = await limits.acquireSession(principal, session.connection.name, spec);
      // The session closed while the slot was being taken: its close released nothing, so this does.
      if (this.closedSessions.has(session)) {
        release();
        throw new BadRequest('the session ended before the statement could run; it was not sent');
      }
      this.sessionSlots.set(session, release);
    }
    return null;
  }

  private admission(interaction: Interaction, decision: Decision, body: RequestBody, profile: MaskProfile | null, signal: AbortSignal): Admission {
    const limits = this.deps.responseLimits;
    const guard = <T>(what: string, fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        if (err instanceof GatewayError) throw err;
        throw new MaskingError(`response masking failed (${what}); the response was withheld`, { cause: err });
      }
    };
    return {
      interaction,
      decision,
      body,
      masked: profile !== null,
      signal,
      responseMasker: (target: ResponseTarget): ResponseMasker => guard('response', () => responseMaskerFor(profile, target, limits)),
      maskText: (text) => (profile ? guard('text', () => profile.maskText(text).text) : text),
      textStream: () => (profile ? guard('stream', () => profile.createTextStream()) : null),
      maskRow: (columns, values) => (profile ? guard('row', () => profile.maskRow(columns, values).values) : [...values]),
    };
  }

  /** Records a refused request (the whole interaction: opened and completed at once) and returns its error. */
  private async refuse(
    session: Session,
    state: RuntimeState,
    requestId: string,
    line: RequestLine,
    error: GatewayError,
    recordedDecision: string,
    decision: Decision | null,
    draft?: RequestDraft,
    grants: readonly string[] = NO_GRANTS,
  ): Promise<GatewayError> {
    try {
      // Recorded as masked as an admitted request would be: the target may be SQL text with values.
      let target = line.target;
      if (target !== null && decision !== null) {
        try {
          const profile = profileFor(state, decision);
          if (profile) target = profile.maskText(target).text;
        } catch {
          target = '[withheld: the rule\'s masking profile could not be applied]';
        }
      }
      const record = await this.deps.recorder.open(
        session.id,
        {
          ...line,
          target,
          model: draft?.model ?? null,
          summary: {
            ...(draft ? recordableSummary({ ...draft.summary, entities: NO_ENTITIES }) : {}),
            ...(grants === NO_GRANTS ? {} : { grants }),
          },
          bytesIn: draft?.bytesIn ?? 0,
          decision: recordedDecision,
          rule: decision?.rule ?? null,
          reason: error.message,
          requestBody: null,
        },
        { id: requestId, redact: state.redact },
      );
      await record.complete({ status: 'complete', responseStatus: error.status, responseBody: null, errorCode: error.code, bytesOut: 0 });
    } catch (err) {
      this.deps.logger.error({ err, connection: session.connection.name }, 'could not record a refused request');
    }
    this.count(session.connection.name, line.kind, recordedDecision, error.code);
    return error;
  }

  /**
   * Records a request refused before it had a session (no or bad credential, unknown connection),
   * in one session per caller, connection and protocol.
   */
  private async recordRefusal(
    connection: string,
    known: boolean,
    protocol: string,
    clientAddr: string | null,
    error: GatewayError,
    line: RequestLine,
    who: AuthContext | undefined,
    requestId: string | undefined,
  ): Promise<void> {
    // A made-up connection name is recorded, but all of them share one anonymous session.
    const sessionConnection = known ? connection : UNKNOWN_CONNECTION_LABEL;
    this.count(sessionConnection, line.kind, 'deny', error.code);
    if (who === undefined && !this.anonymousBudget()) {
      this.deps.metrics.unrecordedRefusals.inc({ protocol });
      return;
    }
    try {
      const key = `${who?.credential.tokenId ?? 'anonymous'}\u0000${sessionConnection}\u0000${protocol}`;
      let sessionId = this.anonymousSessions.get(key);
      if (!sessionId) {
        sessionId = this.deps.recorder
          .openSession({
            principalId: who?.principal.id ?? null,
            principalName: who?.principal.name ?? 'anonymous',
            tokenId: who?.credential.tokenId ?? null,
            connection: sessionConnection,
            protocol,
            clientAddr,
          })
          .then((s) => s.id);
        sessionId.catch(() => this.anonymousSessions.delete(key));
        this.anonymousSessions.set(key, sessionId);
        if (this.anonymousSessions.size > MAX_ANONYMOUS_SESSIONS) this.anonymousSessions.delete(this.anonymousSessions.keys().next().value!);
      }
      const state = this.deps.state();
      const record = await this.deps.recorder.open(
        await sessionId,
        {
          ...line,
          decision: 'deny',
          rule: null,
          reason: error.message,
          model: null,
          summary: known ? {} : { connection },
          requestBody: null,
          bytesIn: 0,
        },
        { id: requestId, redact: state.redact },
      );
      await record.complete({ status: 'complete', responseStatus: error.status, responseBody: null, errorCode: error.code, bytesOut: 0 });
    } catch (err) {
      this.deps.logger.error({ err, connection: sessionConnection }, 'could not record a rejected request');
    }
  }

  /** Takes one of this minute's records for a refusal without a credential; false once they are spent. */
  private anonymousBudget(): boolean {
    const minute = Math.floor((this.deps.now ?? Date.now)() / 60_000);
    const window = this.anonymousWindow;
    if (window.minute !== minute) {
      if (window.recorded > (this.deps.anonymousRecordsPerMinute ?? ANONYMOUS_RECORDS_PER_MINUTE)) {
        this.deps.logger.warn({ minute: window.minute }, 'refusals without a credential exceeded the recording budget; the rest were counted in gatehouse_refusals_unrecorded_total');
      }
      this.anonymousWindow = { minute, recorded: 1 };
      return true;
    }
    return ++window.recorded <= (this.deps.anonymousRecordsPerMinute ?? ANONYMOUS_RECORDS_PER_MINUTE);
  }

  private count(connection: string, kind: InteractionKind, decision: string, outcome: string): void {
    this.deps.metrics.requests.inc({ connection, kind, decision, outcome });
  }
}

const NOTHING_TO_UNLINK = (): void => undefined;

/**
 * A signal that aborts with whichever of two aborts first. By hand rather than AbortSignal.any,
 * which costs a weak reference and a finalizer per request; the listener on the long-lived
 * session signal is removed when the request completes.
 */
function either(request: AbortSignal | undefined, session: AbortSignal): { signal: AbortSignal; unlink: () => void } {
  if (request === undefined || session.aborted) return { signal: session, unlink: NOTHING_TO_UNLINK };
  if (request.aborted) return { signal: request, unlink: NOTHING_TO_UNLINK };
  const both = new AbortController();
  const onRequest = () => both.abort(request.reason);
  const onSession = () => both.abort(session.reason);
  request.addEventListener('abort', onRequest, { once: true });
  session.addEventListener('abort', onSession, { once: true });
  return {
    signal: both.signal,
    unlink: () => {
      request.removeEventListener('abort', onRequest);
      session.removeEventListener('abort', onSession);
    },
  };
}

const UNDESCRIBED: RequestLine = { kind: 'http.request', method: null, target: null };

function toOutcome(result: ForwardResult): InteractionOutcome {
  return {
    status: result.interrupted ? 'interrupted' : 'complete',
    responseStatus: result.responseStatus,
    responseBody: result.responseBody,
    // The target's own error reached the client as the target sent it: recorded beside ours, not as ours.
    errorCode: result.error?.code ?? (result.clientAborted ? 'client_aborted' : result.skipped ? 'skipped' : null),
    upstreamCode: result.upstreamError?.code ?? null,
    bytesOut: result.bytesOut,
  };
}

function profileFor(state: RuntimeState, decision: Decision): MaskProfile | null {
  const name = decision.obligations.maskingProfile;
  if (!name) return null;
  const profile = state.masking.get(name);
  if (!profile) throw new MaskingError(`masking profile "${name}" named by rule "${decision.rule}" does not exist`);
  return profile;
}

const coverage = new WeakMap<MaskProfile, boolean>();

/** Whether a profile runs every secret detector (then the recorder need not scan its output again). */
function coversSecrets(profile: MaskProfile): boolean {
  let covers = coverage.get(profile);
  if (covers === undefined) {
    covers = SECRET_TYPES.every((type) => profile.styles.has(type));
    coverage.set(profile, covers);
  }
  return covers;
}

/** SQL text is both the target and the body: the masked body already says what the target masks to. */
function maskedTarget(profile: MaskProfile, target: string, sent: RequestBody, masked: RequestBody): string {
  if (sent.type === 'text' && masked.type === 'text' && sent.text === target) return masked.text;
  return profile.maskText(target).text;
}

/**
 * The summary as recorded: the raw prompt and SQL text are left out, because the request body
 * (masked) already holds them and the summary is never masked.
 */
function recordableSummary(summary: RequestSummary): Record<string, unknown> {
  const { llm, sql, ...rest } = summary;
  return {
    ...rest,
    ...(llm ? { llm: { ...llm, messageText: undefined } } : {}),
    ...(sql ? { sql: { ...sql, text: undefined } } : {}),
  };
}

function recordableBody(body: RequestBody): string | null {
  switch (body.type) {
    case 'none':
      return null;
    case 'json':
      return body.text ?? JSON.stringify(body.value);
    case 'text':
      return body.text;
    case 'opaque':
      return `[${body.description}]`;
  }
}
