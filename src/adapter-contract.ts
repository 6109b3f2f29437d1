/**
 * What the core asks of a protocol adapter, and what it gives one. An adapter takes the credential
 * off the wire (`LoginRequest`), builds a `RequestDraft`, forwards what the runner admits with the
 * credentials only the gateway holds (`Forward`), and renders a `GatewayError` in its protocol. It
 * never decides, masks or records on its own: the admission hands it the maskers.
 */
import type { GatewayError } from './errors.ts';
import type { ConnectionInfo, ConnectionType, Decision, Interaction, InteractionKind, RequestSummary } from './interaction.ts';
import type { AuthContext } from './identity/credentials.ts';
import type { RequestBody, ResponseMasker, ResponseTarget, TextStreamMasker } from './masking/index.ts';

/** How a request is described in the record when it is refused before its draft exists. */
export interface RequestLine {
  readonly kind: InteractionKind;
  readonly method: string | null;
  readonly target: string | null;
}

/** The credential and where it is going, as read off the wire. */
export interface LoginRequest {
  readonly secret: string | undefined;
  /** A token the adapter proved the client holds without seeing it (a SCRAM proof); checked as a sent one is. */
  readonly provenTokenId?: string;
  /** The connection name the client asked for (path segment, database name). */
  readonly connection: string;
  /** When set, a connection of another type counts as unknown (a database name naming an HTTP connection). */
  readonly type?: ConnectionType;
  readonly protocol: string;
  readonly clientAddr: string | null;
  /** Recorded for a refused login. */
  readonly line: RequestLine;
  readonly requestId?: string;
}

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
  /**
   * A digest of exactly what would run, where `body` and `target` are abridged (SQL clipped for
   * scanning, parameters shown by size): an approval binds to this, so it can never run anything
   * that merely looks the same. A function: only a request a rule holds needs it.
   */
  readonly exact?: () => string;
}

/** A draft, or how to build one: a build that throws (a bad body) is a refusal the runner records. */
export type DraftSource = RequestDraft | (() => RequestDraft | Promise<RequestDraft>);

export type { RequestBody };

/** A request the runner let through: the adapter forwards `body` and answers through the admission's maskers. */
export interface Admission {
  readonly interaction: Interaction;
  readonly decision: Decision;
  /** The request body after masking; serialize this, never the original. */
  readonly body: RequestBody;
  /** Whether a masking profile applies. */
  readonly masked: boolean;
  /** Aborts when the client leaves (if the adapter said so) or the credential is revoked or expires. */
  readonly signal: AbortSignal;
  /**
   * The masker for a response of this type and encoding, picked by masking/. Throws MaskingError
   * (`masking_failed`) when a profile applies and the response cannot be scanned: withhold it.
   */
  responseMasker(target: ResponseTarget): ResponseMasker;
  /**
   * A masker for text that arrives in pieces (an object body streamed through), with the
   * profile's hold-back; null when no profile applies.
   */
  textStream(): TextStreamMasker | null;
  /** Masks one text (a database notice or error message) under the profile. */
  maskText(text: string): string;
  /** Masks one result row by column name and content. */
  maskRow(columns: readonly string[], values: readonly (string | null)[]): (string | null)[];
}

/** What forwarding produced, for the record. The adapter has already answered the client. */
export interface ForwardResult {
  readonly responseStatus: number | null;
  /** The recording's transcript of the response (from the masker), or null. */
  readonly responseBody: string | null;
  readonly bytesOut: number;
  /** The request failed after it was forwarded: recorded with this error's code, and thrown by run(). */
  readonly error?: GatewayError | null;
  /** The client left before the answer was complete. */
  readonly clientAborted?: boolean;
  /** The target's own error (a database's SQLSTATE and message): recorded, not thrown; the client already has it. */
  readonly upstreamError?: { readonly code: string; readonly message: string } | null;
  /** The session ended before the answer came: recorded as interrupted. */
  readonly interrupted?: boolean;
  /** Not run: an earlier message in the same batch failed (the database skipped it). */
  readonly skipped?: boolean;
  /** Tokens an LLM response reported (its usage): counted against llmTokensPerMinute beyond the request's estimate. */
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number } | null;
}

export type Forward = (admission: Admission) => Promise<ForwardResult>;

/**
 * What a concurrency slot covers: one request (HTTP, where a session is a run of calls with one
 * token) or the whole session (a Postgres connection is one agent for as long as it is open).
 */
export type SlotScope = 'request' | 'session';

/** What a client whose request waits may be told of its approval. */
export interface HeldApproval {
  readonly id: string;
  readonly rule: string;
  readonly approvers: readonly string[];
  readonly required: number;
  readonly expiresAt: number;
}

export interface RunOptions {
  /** Aborts when the client is gone: the admission's signal follows it. */
  readonly signal?: AbortSignal;
  readonly slot?: SlotScope;
  /** The id the adapter already showed its client (x-request-id); recorded as the interaction's id. */
  readonly requestId?: string;
  /** Describes the request for the record when building its draft fails. */
  readonly line?: RequestLine;
  /**
   * How a request a rule holds for approval waits: until the rule's `wait` (HTTP, where the client
   * blocks) or the approval's expiry (a protocol that can tell its client the id at once and keep
   * the statement open). `onCreated` is told the approval as soon as it exists. Absent, a held
   * request is refused at once with `approval_required` naming its approval (a retry after approval runs once).
   */
  readonly hold?: { readonly until: 'wait' | 'expiry'; readonly onCreated?: (approval: HeldApproval) => void };
}

export interface Session {
  readonly id: string;
  readonly auth: AuthContext;
  readonly connection: ConnectionInfo;
  readonly protocol: string;
  readonly clientAddr: string | null;
  /** Fires when the credential is revoked or expires: adapters end live work with it. */
  readonly ended: AbortSignal;
  close(reason: string): Promise<void>;
}
