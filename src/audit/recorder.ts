import type { Logger } from 'pino';
import type { RecordedErrorCode } from '../errors.ts';
import type { InteractionRow, SessionRow, Store } from '../store/types.ts';
import { newId } from '../identity/token-format.ts';
import { sealInteraction } from './hash-chain.ts';

export interface OpenSession {
  readonly principalId: string | null;
  readonly principalName: string;
  readonly tokenId: string | null;
  readonly connection: string;
  readonly protocol: string;
  readonly clientAddr: string | null;
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
  /** Masks secrets in every recorded text: recordings never hold raw secrets, whatever profile the request had. */
  readonly redact: (text: string) => string;
  /**
   * The bodies already went through a profile with every secret detector, so scanning them
   * again would find nothing.
   */
  readonly secretsMasked?: boolean;
}

/**
 * Real codes are short (a SQLSTATE is 5 characters); the bound keeps a target that sends prose as
 * its code from filling the column. Not run through the secrets redactor: a code names a kind of
 * failure and is not where request or response content travels.
 */
export const UPSTREAM_CODE_MAX_CHARS = 64;

export function clipUpstreamCode(code: string | null | undefined): string | null {
  if (code === null || code === undefined) return null;
  if (code.length <= UPSTREAM_CODE_MAX_CHARS) return code;
  // Never keep half of a surrogate pair: a lone surrogate is not valid text for either engine's JSON.
  return code.slice(0, UPSTREAM_CODE_MAX_CHARS).replace(/[\uD800-\uDBFF]$/, '');
}

/** Cuts a recorded body to the configured size, saying how much was left out. */
export function clipBody(text: string | null, maxBytes: number): string | null {
  if (text === null || text.length <= maxBytes / 4) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return text;
  return `${Buffer.from(text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '')}…[truncated ${bytes - maxBytes} bytes]`;
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
  ) {}

  private body(text: string | null, options: OpenOptions): string | null {
    if (text === null) return null;
    return clipBody(options.secretsMasked ? text : this.redactOnce(text, options.redact), this.maxBodyBytes);
  }

  private redactOnce(text: string, redact: (text: string) => string): string {
    const [last, result, by] = this.lastRedacted;
    if (last === text && by === redact) return result;
    const redacted = redact(text);
    this.lastRedacted = [text, redacted, redact];
    return redacted;
  }

  async openSession(input: OpenSession): Promise<RecordedSession> {
    const row: SessionRow = { id: newId('ses'), ...input, startedAt: this.now(), endedAt: null, endReason: null };
    await this.store.insertSession(row);
    this.seqs.set(row.id, 0);
    this.lastHash.set(row.id, null);
    return { id: row.id, startedAt: row.startedAt };
  }

  async endSession(id: string, reason: string): Promise<void> {
    this.seqs.delete(id);
    this.lastHash.delete(id);
    await this.store.endSession(id, this.now(), reason);
  }

  /** Throws StoreError when the store cannot take the record: the caller must not forward. */
  async open(sessionId: string, draft: InteractionDraft, options: OpenOptions): Promise<OpenInteraction> {
    const seq = (this.seqs.get(sessionId) ?? 0) + 1;
    this.seqs.set(sessionId, seq);
    const row: InteractionRow = {
      id: options.id ?? newId('int'),
      sessionId,
      seq,
      status: 'open',
      ...draft,
      target: draft.target === null || options.secretsMasked ? draft.target : this.redactOnce(draft.target, options.redact),
      requestBody: this.body(draft.requestBody, options),
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
    const final: InteractionRow = {
      ...row,
      status: outcome.status,
      decision: outcome.decision ?? row.decision,
      rule: outcome.rule === undefined ? row.rule : outcome.rule,
      reason: outcome.reason === undefined ? row.reason : outcome.reason,
      requestBody: outcome.requestBody === undefined ? row.requestBody : this.body(outcome.requestBody, options),
      bytesIn: outcome.bytesIn ?? row.bytesIn,
      responseStatus: outcome.responseStatus,
      responseBody: this.body(outcome.responseBody, options),
      errorCode: outcome.errorCode,
      upstreamCode: clipUpstreamCode(outcome.upstreamCode),
      bytesOut: outcome.bytesOut,
      completedAt,
      latencyMs: completedAt - row.startedAt,
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
      });
    } catch (err) {
      // The write-ahead row stays 'open' and becomes 'interrupted' at the next start: never lost.
      this.logger.error({ err, interaction: row.id }, 'could not complete interaction record');
    }
  }
}
