import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { ApprovalPending, GatewayError, LimitExceeded, MaskingError, PolicyDenied, toGatewayError } from './errors.ts';
import type { ConnectionInfo, Decision, Interaction, InteractionKind, RequestSummary } from './interaction.ts';
import type { AuthContext, Credentials } from './identity/credentials.ts';
import type { CredentialWatch, EndReason } from './identity/credential-watch.ts';
import type { PolicyEngine, LimitTracker } from './policy/types.ts';
import type { MaskProfile, MaskingProfiles } from './masking/index.ts';
import { createOpenAiSseMasker, SECRET_TYPES } from './masking/index.ts';
import type { Recorder, InteractionOutcome, OpenInteraction } from './audit/recorder.ts';
import type { Metrics } from './metrics.ts';

/**
 * The stages every request passes, in order, whatever its protocol. Adapters do the wire work
 * (authenticate's credential extraction, forward); everything else happens here, once.
 */
export const STAGES = [
  'authenticate', // identity/: who is calling (adapter extracts the credential)
  'classify', // classify/ + masking/ entity detection: what the request is
  'decide', // policy/: allow, deny or approve, with obligations
  'hold', // approvals/: wait for humans (fails closed until the approval flow exists)
  'mask_request', // masking/: before anything leaves
  'forward', // adapter: with credentials only the gateway holds
  'mask_response', // masking/: streamed back through the admission's maskers
  'record', // audit/: opened before forward (write-ahead), sealed after mask_response
] as const;
export type Stage = (typeof STAGES)[number];

/** What an adapter knows about a request after reading it off the wire. */
export interface RequestDraft {
  readonly kind: InteractionKind;
  readonly summary: Omit<RequestSummary, 'entities'>;
  /** Text scanned for sensitive entities so policy can see them (prompt text, SQL, body text). */
  readonly scanText: string;
  readonly body: RequestBody;
  readonly method: string | null;
  readonly target: string | null;
  readonly model: string | null;
  readonly bytesIn: number;
}

export type RequestBody =
  | { readonly type: 'none' }
  /** `text` is the body as sent, reused verbatim (for forwarding and recording) while nothing masked it. */
  | { readonly type: 'json'; readonly value: unknown; readonly text?: string }
  | { readonly type: 'text'; readonly text: string }
  /** Bytes we do not parse (binary uploads): never masked, so refused whenever a profile applies. */
  | { readonly type: 'opaque'; readonly description: string };

export interface ResponseStream {
  push(chunk: Buffer | string): string;
  end(): string;
}

/** A request the pipeline let through: the adapter forwards `body` and sends the response through the maskers. */
export interface Admission {
  readonly interaction: Interaction;
  readonly decision: Decision;
  /** The request body after masking; serialize this, never the original. */
  readonly body: RequestBody;
  readonly masked: boolean;
  maskResponseText(text: string): string;
  maskResponseJson(text: string): string;
  maskRow(columns: readonly string[], values: readonly (string | null)[]): (string | null)[];
  /** A streaming masker for this response, or null when no profile applies (pass bytes through). */
  responseStream(format: 'openai-sse' | 'text'): ResponseStream | null;
  complete(outcome: InteractionOutcome): Promise<void>;
}

/**
 * What a concurrency slot covers: one request (HTTP, where a session is a run of calls with one
 * token) or the whole session (a Postgres connection is one agent for as long as it is open).
 */
export type SlotScope = 'request' | 'session';

export interface Session {
  readonly id: string;
  readonly auth: AuthContext;
  readonly connection: ConnectionInfo;
  /** Fires when the credential is revoked or expires: adapters end live work with it. */
  readonly ended: AbortSignal;
  close(reason: string): Promise<void>;
}

export interface PipelineDeps {
  readonly credentials: Credentials;
  readonly watch: CredentialWatch;
  readonly policy: () => PolicyEngine;
  readonly limits: LimitTracker;
  readonly masking: () => MaskingProfiles;
  /** Detects entity types for policy; called only when some rule reads request.entities. */
  readonly detectEntities: (text: string) => string[];
  readonly recorder: Recorder;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

const NO_ENTITIES: readonly string[] = Object.freeze([]);
const MAX_ANONYMOUS_SESSIONS = 1_000;

export class Pipeline {
  private readonly anonymousSessions = new Map<string, Promise<string>>();
  private readonly sharedSessions = new Map<string, Promise<Session>>();
  /** Slots held for a whole session (scope 'session'), released by Session.close. */
  private readonly sessionSlots = new WeakMap<Session, () => void>();

  constructor(private readonly deps: PipelineDeps) {}

  /** Stage 1: verifies an agent credential and its scope for this connection. */
  async authenticate(secret: string | undefined, connection: ConnectionInfo): Promise<AuthContext> {
    const auth = await this.deps.credentials.verify(secret, 'agent');
    this.deps.credentials.authorizeConnection(auth, connection.name);
    return auth;
  }

  /** Opens a recorded session that ends by itself when its credential is revoked or expires. */
  async openSession(
    auth: AuthContext,
    connection: ConnectionInfo,
    protocol: string,
    clientAddr: string | null,
  ): Promise<Session> {
    const recorded = await this.deps.recorder.openSession({
      principalId: auth.principal.id,
      principalName: auth.principal.name,
      tokenId: auth.credential.tokenId,
      connection: connection.name,
      protocol,
      clientAddr,
    });
    const controller = new AbortController();
    const slot = this.sessionSlots;
    const unwatch = this.deps.watch.watch(auth.credential.tokenId, auth.credential.expiresAt, (reason: EndReason) => {
      controller.abort(new GatewayError(reason === 'expired' ? 'auth_expired' : 'auth_revoked', `credential ${reason}; session ended`));
    });
    let closed = false;
    const session: Session = {
      id: recorded.id,
      auth,
      connection,
      ended: controller.signal,
      close: async (reason) => {
        if (closed) return;
        closed = true;
        slot.get(session)?.();
        slot.delete(session);
        unwatch();
        await this.deps.recorder.endSession(recorded.id, controller.signal.aborted ? String((controller.signal.reason as Error).message) : reason);
      },
    };
    return session;
  }

  /**
   * The session for a run of calls with one credential on one connection (HTTP): opened on first use,
   * closed when the credential is revoked or expires.
   */
  sharedSession(auth: AuthContext, connection: ConnectionInfo, protocol: string, clientAddr: string | null): Promise<Session> {
    const key = `${auth.credential.tokenId}\u0000${connection.name}`;
    let session = this.sharedSessions.get(key);
    if (!session) {
      session = this.openSession(auth, connection, protocol, clientAddr);
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
    return session;
  }

  /** Closes every shared session (gateway shutdown). */
  async closeSessions(reason: string): Promise<void> {
    const sessions = [...this.sharedSessions.values()];
    this.sharedSessions.clear();
    await Promise.allSettled(sessions.map(async (s) => (await s).close(reason)));
  }

  /** Stages 2–5 and the write-ahead half of 8. Throws a GatewayError (already recorded) when the request must not go on. */
  async admit(session: Session, draft: RequestDraft, slot: SlotScope = 'request'): Promise<Admission> {
    const { auth, connection } = session;
    const policy = this.deps.policy();
    const entities = policy.readsEntities && draft.scanText ? this.deps.detectEntities(draft.scanText) : NO_ENTITIES;
    const summary: RequestSummary = { ...draft.summary, entities };
    const decision = this.decide(policy, auth, connection, draft.kind, summary);

    const base = {
      kind: draft.kind,
      method: draft.method,
      target: draft.target,
      model: draft.model,
      summary: recordableSummary(summary),
      bytesIn: draft.bytesIn,
    };
    const refuse = async (error: GatewayError, recordedDecision: string): Promise<never> => {
      const record = await this.deps.recorder.open(session.id, {
        ...base,
        decision: recordedDecision,
        rule: decision.rule,
        reason: error.message,
        requestBody: null,
      });
      await record.complete({ status: 'complete', responseStatus: error.status, responseBody: null, errorCode: error.code, bytesOut: 0 });
      this.deps.metrics.requests.inc({ connection: connection.name, kind: draft.kind, decision: recordedDecision, outcome: error.code });
      throw error;
    };

    if (decision.action === 'deny') return refuse(new PolicyDenied(decision.rule, decision.reason), 'deny');
    if (decision.action === 'approve') return refuse(new ApprovalPending(decision.rule, decision.approvers), 'approve');

    let release: (() => void) | null = null;
    try {
      const limits = decision.obligations.limits;
      await this.deps.limits.consume(auth.principal.id, limits, summary.llm?.estimatedInputTokens ?? 0);
      if (slot === 'request') {
        release = await this.deps.limits.acquireSession(auth.principal.id, connection.name, limits);
      } else if (!this.sessionSlots.has(session)) {
        // taken on the first admitted statement, under that decision's limits, until the session closes
        this.sessionSlots.set(session, await this.deps.limits.acquireSession(auth.principal.id, connection.name, limits));
      }
    } catch (err) {
      if (err instanceof LimitExceeded) return refuse(err, 'limit');
      throw err;
    }

    let profile: MaskProfile | null = null;
    let body = draft.body;
    try {
      profile = this.profileFor(decision);
      if (profile) body = maskRequestBody(profile, draft.body);
    } catch (err) {
      release?.();
      return refuse(err instanceof GatewayError ? err : new MaskingError('request masking failed', { cause: err }), 'allow');
    }

    let record: OpenInteraction;
    try {
      record = await this.deps.recorder.open(session.id, {
        ...base,
        // The target may be SQL text carrying values: recorded as masked as the body.
        target: profile && draft.target ? maskedTarget(profile, draft.target, draft.body, body) : draft.target,
        decision: 'allow',
        rule: decision.rule,
        reason: null,
        requestBody: recordableBody(body),
      }, profile !== null && coversSecrets(profile));
    } catch (err) {
      release?.();
      throw toGatewayError(err);
    }

    const interaction: Interaction = {
      id: record.row.id,
      sessionId: session.id,
      kind: draft.kind,
      identity: auth.principal,
      credential: auth.credential,
      connection,
      summary,
      startedAt: record.row.startedAt,
    };
    return this.admission(interaction, decision, body, profile, record, release);
  }

  private decide(policy: PolicyEngine, auth: AuthContext, connection: ConnectionInfo, kind: InteractionKind, summary: RequestSummary): Decision {
    try {
      return policy.decide({
        identity: auth.principal,
        credential: auth.credential,
        connection,
        kind,
        summary,
        time: new Date(),
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

  private profileFor(decision: Decision): MaskProfile | null {
    const name = decision.obligations.maskingProfile;
    if (!name) return null;
    const profile = this.deps.masking().get(name);
    if (!profile) throw new MaskingError(`masking profile "${name}" named by rule "${decision.rule}" does not exist`);
    return profile;
  }

  private admission(
    interaction: Interaction,
    decision: Decision,
    body: RequestBody,
    profile: MaskProfile | null,
    record: OpenInteraction,
    release: (() => void) | null,
  ): Admission {
    const { metrics } = this.deps;
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
      maskResponseText: (text) => (profile ? guard('text', () => profile.maskText(text).text) : text),
      maskResponseJson: (text) => (profile ? guard('json', () => profile.maskJsonText(text).text) : text),
      maskRow: (columns, values) => (profile ? guard('row', () => profile.maskRow(columns, values).values) : [...values]),
      responseStream: (format) => {
        if (!profile) return null;
        const inner = format === 'openai-sse' ? createOpenAiSseMasker(profile) : textStream(profile);
        return {
          push: (chunk) => guard('stream', () => inner.push(chunk)),
          end: () => guard('stream', () => inner.end()),
        };
      },
      complete: async (outcome) => {
        release?.();
        release = null;
        const seconds = (Date.now() - interaction.startedAt) / 1000;
        metrics.latency.observe({ connection: interaction.connection.name }, seconds);
        metrics.requests.inc({
          connection: interaction.connection.name,
          kind: interaction.kind,
          decision: decision.action,
          outcome: outcome.errorCode ?? String(outcome.responseStatus ?? 'ok'),
        });
        await record.complete(outcome);
      },
    };
  }

  /**
   * Records a request refused before it had a session (no or bad credential, unknown connection),
   * in one session per connection for anonymous callers.
   */
  async recordRejected(
    connection: string,
    protocol: string,
    clientAddr: string | null,
    error: GatewayError,
    request: { method: string | null; target: string | null; kind: InteractionKind },
    who?: AuthContext,
  ): Promise<void> {
    try {
      const key = `${who?.credential.tokenId ?? 'anonymous'}\u0000${connection}\u0000${protocol}`;
      let sessionId = this.anonymousSessions.get(key);
      if (!sessionId) {
        sessionId = this.deps.recorder
          .openSession({
            principalId: who?.principal.id ?? null,
            principalName: who?.principal.name ?? 'anonymous',
            tokenId: who?.credential.tokenId ?? null,
            connection,
            protocol,
            clientAddr,
          })
          .then((s) => s.id);
        sessionId.catch(() => this.anonymousSessions.delete(key));
        this.anonymousSessions.set(key, sessionId);
        // Callers choose the connection name (a made-up one is still recorded): forget the oldest
        // so they cannot grow this map without bound.
        if (this.anonymousSessions.size > MAX_ANONYMOUS_SESSIONS) this.anonymousSessions.delete(this.anonymousSessions.keys().next().value!);
      }
      const record = await this.deps.recorder.open(await sessionId, {
        kind: request.kind,
        decision: 'deny',
        rule: null,
        reason: error.message,
        method: request.method,
        target: request.target,
        model: null,
        summary: {},
        requestBody: null,
        bytesIn: 0,
      });
      await record.complete({ status: 'complete', responseStatus: error.status, responseBody: null, errorCode: error.code, bytesOut: 0 });
      this.deps.metrics.requests.inc({ connection, kind: request.kind, decision: 'deny', outcome: error.code });
    } catch (err) {
      this.deps.logger.error({ err, connection }, 'could not record a rejected request');
    }
  }
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

function textStream(profile: MaskProfile): ResponseStream {
  const stream = profile.createTextStream();
  // A multi-byte character may be split across chunks; the decoder carries the partial bytes over.
  const decoder = new StringDecoder('utf8');
  return {
    push: (chunk) => stream.push(typeof chunk === 'string' ? chunk : decoder.write(chunk)),
    end: () => stream.push(decoder.end()) + stream.end(),
  };
}

/** SQL text is both the target and the body: the masked body already says what the target masks to. */
function maskedTarget(profile: MaskProfile, target: string, sent: RequestBody, masked: RequestBody): string {
  if (sent.type === 'text' && masked.type === 'text' && sent.text === target) return masked.text;
  return profile.maskText(target).text;
}

function maskRequestBody(profile: MaskProfile, body: RequestBody): RequestBody {
  switch (body.type) {
    case 'none':
      return body;
    case 'json': {
      // maskJson keeps the identity of what it did not change, so an untouched body is sent as it came.
      const value = profile.maskJson(body.value).value;
      return value === body.value ? body : { type: 'json', value, text: JSON.stringify(value) };
    }
    case 'text':
      return { type: 'text', text: profile.maskText(body.text).text };
    case 'opaque':
      throw new MaskingError(`a masking profile applies but the request body (${body.description}) cannot be scanned; it was not sent`);
  }
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
