import type { Logger } from 'pino';
import type { RecordedErrorCode } from '../errors.ts';
import type { InteractionRow, SessionRow, Store } from '../store/types.ts';
import { newId } from '../identity/token-format.ts';
import { sealInteraction } from './hash-chain.ts';
import { boundBody, headBytes, type BoundBody } from './retention-bodies.ts';

export interface OpenSession {
  readonly principalId: string | null;
  readonly principalName: string;
  readonly tokenId: string | null;
  readonly connection: string;
  readonly protocol: string;
  readonly clientAddr: string | null;
  readonly startup?: Readonly<Record<string, string>> | null;
  /** The agent whose credential opened it (inventory usage reads it). */
  readonly agentId?: string | null;
}

export interface RecordedSession {
  readonly id: string;
  readonly startedAt: number;
}

export type InteractionDraft = Pick<InteractionRow, 'kind' | 'decision' | 'rule' | 'reason' | 'method' | 'target' | 'model' | 'summary'> & {
  readonly requestBody: string | null;
  readonly bytesIn: number;
};

export interface InteractionOutcome {
  readonly status: 'complete' | 'interrupted';
  readonly decision?: string;
  readonly rule?: string | null;
  readonly reason?: string | null;
  readonly responseStatus: number | null;
  readonly responseBody: string | null;
  /** The gateway's own code, when it refused or failed the request (or the client left, …). */
  readonly errorCode: RecordedErrorCode | null;
  /**
   * The target's own error code, which the client already received as the target sent it (a
   * database's SQLSTATE). Recorded apart from errorCode: the gateway refused nothing. Clipped to
   * UPSTREAM_CODE_MAX_CHARS.
   */
  readonly upstreamCode?: string | null;
  readonly bytesOut: number;
  /** Replaces the write-ahead request body (e.g. once a streamed body has been read). */
  readonly requestBody?: string | null;
  readonly bytesIn?: number;
}

export interface OpenInteraction {
  readonly row: InteractionRow;
  /** Seals the record. Called exactly once: a second call is a bug in the caller and throws. */
  complete(outcome: InteractionOutcome): Promise<void>;
}

export interface OpenOptions {
  /** The interaction's id when the caller already showed it (an HTTP response's x-request-id). */
  readonly id?: string;
  /**
   * Masks secrets in every recorded text (target, model, method, reason, every key and string
   * of the summary, the upstream's code, the bodies): recordings never hold raw secrets,
   * whatever profile the request had.
   */
  readonly redact: (text: string) => string;
  /**
   * The request body and the response transcript already went through a profile with every
   * secret detector, so scanning them again would find nothing. Covers those two fields only:
   * the other fields are never masked by a profile and are always redacted here.
   */
  readonly secretsMasked?: boolean;
}

/**
 * Real codes are short (a SQLSTATE is 5 characters); the bound keeps a target that sends prose as
 * its code from filling the column. The clipped code still passes the secrets redactor: the
 * target chooses what it sends there, and 64 characters hold a key.
 */
export const UPSTREAM_CODE_MAX_CHARS = 64;

export function clipUpstreamCode(code: string | null | undefined): string | null {
  if (code === null || code === undefined) return null;
  if (code.length <= UPSTREAM_CODE_MAX_CHARS) return code;
  // Never keep half of a surrogate pair: a lone surrogate is not valid text for either engine's JSON.
  return code.slice(0, UPSTREAM_CODE_MAX_CHARS).replace(/[\uD800-\uDBFF]$/, '');
}

/**
 * A body is redacted only as far as it will be kept, plus this much: a secret that starts just
 * before the cut is still whole when scanned, and a 10 MB body costs a 64 KB scan, not a 10 MB one.
 */
const REDACT_MARGIN_BYTES = 8 * 1024;

/** Beyond this depth a summary is not walked (nothing the classifiers produce nests this deep). */
const MAX_SUMMARY_DEPTH = 64;
const TOO_DEEP = '[nested too deep to record]';

/**
 * A query string or form is read decoded: `%2F` hides a secret from detectors that match `/`.
 * Only malformed sequences are left as they are.
 */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Every key and string of a JSON value, redacted; the same value (identity) when nothing changed. */
function redactJson(value: unknown, redact: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_SUMMARY_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((item) => {
      const redacted = redactJson(item, redact, depth + 1);
      if (redacted !== item) changed = true;
      return redacted;
    });
    return changed ? out : value;
  }
  let changed = false;
  const entries = Object.entries(value).map(([key, item]) => {
    const k = redact(key);
    const v = redactJson(item, redact, depth + 1);
    if (k !== key || v !== item) changed = true;
    return [k, v] as const;
  });
  // fromEntries defines properties, so a key such as "__proto__" stays a key.
  return changed ? Object.fromEntries(entries) : value;
}

/**
 * Records sessions and interactions write-ahead: the row exists before the request is forwarded and
 * is sealed into the session's hash chain when it completes. Bodies arrive here already masked.
 */
export class Recorder {
  private readonly seqs = new Map<string, number>();
  private readonly lastHash = new Map<string, string | null>();
  /** The last text redacted and its result: SQL arrives as both target and body, and need not be scanned twice. */
  private lastRedacted: readonly [string, string, (text: string) => string] = ['', '', (t) => t];

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly maxBodyBytes: number,
    private readonly now: () => number = Date.now,
    /** Written on every session this recorder opens: clean-up after a crash closes only a gone replica's sessions. */
    private readonly replicaId: string | null = null,
  ) {}

  /** The body as stored (bounded, with its digest and, when cut, the marker). */
  private body(text: string | null, options: OpenOptions): BoundBody {
    if (text === null || options.secretsMasked) return boundBody(text, this.maxBodyBytes);
    const scanned = this.maxBodyBytes + REDACT_MARGIN_BYTES;
    if (text.length <= scanned / 4 || Buffer.byteLength(text) <= scanned) return boundBody(this.redactOnce(text, options.redact), this.maxBodyBytes);
    // Only the head is redacted; the marker's digest is of the whole body as it arrived.
    return boundBody(this.redactOnce(headBytes(text, scanned), options.redact), this.maxBodyBytes, text);
  }

  /** A short field (target, model, a summary string): redacted as written and, when percent-encoded, as read. */
  private field(text: string, redact: (text: string) => string): string {
    const redacted = this.redactOnce(text, redact);
    if (!text.includes('%')) return redacted;
    const decoded = percentDecoded(redacted);
    if (decoded === redacted) return redacted;
    const both = redact(decoded);
    // Kept decoded only when decoding showed a secret: otherwise the text stays as it was sent.
    return both === decoded ? redacted : both;
  }

  private nullableField(text: string | null | undefined, redact: (text: string) => string): string | null {
    return text === null || text === undefined ? null : this.field(text, redact);
  }

  private redactOnce(text: string, redact: (text: string) => string): string {
    const [last, result, by] = this.lastRedacted;
    if (last === text && by === redact) return result;
    const redacted = redact(text);
    this.lastRedacted = [text, redacted, redact];
    return redacted;
  }

  async openSession(input: OpenSession): Promise<RecordedSession> {
    const row: SessionRow = { id: newId('ses'), ...input, startedAt: this.now(), endedAt: null, endReason: null, replicaId: this.replicaId };
    await this.store.insertSession(row);
    this.seqs.set(row.id, 0);
    this.lastHash.set(row.id, null);
    return { id: row.id, startedAt: row.startedAt };
  }

  async endSession(id: string, reason: string): Promise<void> {
    this.seqs.delete(id);
    try {
      await this.store.endSession(id, this.now(), reason);
    } finally {
      // Kept until the end is written: a completion still on its way (the client left as its answer
      // arrived) chains onto the session's head instead of starting a second chain.
      this.lastHash.delete(id);
    }
  }

  /** Throws StoreError when the store cannot take the record: the caller must not forward. */
  async open(sessionId: string, draft: InteractionDraft, options: OpenOptions): Promise<OpenInteraction> {
    const seq = (this.seqs.get(sessionId) ?? 0) + 1;
    this.seqs.set(sessionId, seq);
    const request = this.body(draft.requestBody, options);
    const row: InteractionRow = {
      id: options.id ?? newId('int'),
      sessionId,
      seq,
      status: 'open',
      ...draft,
      // None of these is masked by a rule's profile: the secrets redactor is all that stands
      // between what an agent sent (a model name, a query string) and the recording.
      method: this.nullableField(draft.method, options.redact),
      target: this.nullableField(draft.target, options.redact),
      model: this.nullableField(draft.model, options.redact),
      reason: this.nullableField(draft.reason, options.redact),
      summary: redactJson(draft.summary, (text) => this.field(text, options.redact)) as Record<string, unknown>,
      requestBody: request.text,
      responseStatus: null,
      responseBody: null,
      errorCode: null,
      upstreamCode: null,
      bytesOut: 0,
      startedAt: this.now(),
      completedAt: null,
      latencyMs: null,
      prevHash: null,
      hash: null,
      bodyDigests: { request: request.digest, response: null },
    };
    await this.store.insertInteraction(row);
    let done = false;
    return {
      row,
      complete: async (outcome) => {
        if (done) throw new Error(`interaction ${row.id} completed twice`);
        done = true;
        await this.complete(row, outcome, options);
      },
    };
  }

  private async complete(row: InteractionRow, outcome: InteractionOutcome, options: OpenOptions): Promise<void> {
    const completedAt = this.now();
    const request = outcome.requestBody === undefined ? { text: row.requestBody, digest: row.bodyDigests?.request ?? null } : this.body(outcome.requestBody, options);
    const response = this.body(outcome.responseBody, options);
    const final: InteractionRow = {
      ...row,
      status: outcome.status,
      decision: outcome.decision ?? row.decision,
      rule: outcome.rule === undefined ? row.rule : outcome.rule,
      reason: outcome.reason === undefined ? row.reason : this.nullableField(outcome.reason, options.redact),
      requestBody: request.text,
      bytesIn: outcome.bytesIn ?? row.bytesIn,
      responseStatus: outcome.responseStatus,
      responseBody: response.text,
      errorCode: outcome.errorCode,
      upstreamCode: this.nullableField(clipUpstreamCode(outcome.upstreamCode), options.redact),
      bytesOut: outcome.bytesOut,
      completedAt,
      latencyMs: completedAt - row.startedAt,
      bodyDigests: { request: request.digest, response: response.digest },
    };
    // Sealing and taking the chain head happen in one synchronous step, so overlapping completions
    // in a session still form one chain.
    const prevHash = this.lastHash.get(row.sessionId) ?? null;
    const hash = sealInteraction(final, prevHash);
    if (this.lastHash.has(row.sessionId)) this.lastHash.set(row.sessionId, hash);
    try {
      await this.store.completeInteraction(row.id, {
        status: final.status,
        decision: final.decision,
        rule: final.rule,
        reason: final.reason,
        requestBody: final.requestBody,
        responseStatus: final.responseStatus,
        responseBody: final.responseBody,
        errorCode: final.errorCode,
        upstreamCode: final.upstreamCode,
        bytesIn: final.bytesIn,
        bytesOut: final.bytesOut,
        completedAt,
        latencyMs: final.latencyMs,
        prevHash,
        hash,
        bodyDigests: final.bodyDigests,
      });
    } catch (err) {
      // The write-ahead row stays 'open' and becomes 'interrupted' at the next start: never lost.
      this.logger.error({ err, interaction: row.id }, 'could not complete interaction record');
    }
  }
}
