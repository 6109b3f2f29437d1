import type {
  ConnectionInfo,
  CredentialInfo,
  Decision,
  InteractionKind,
  LimitSpec,
  Principal,
  RequestSummary,
} from '../interaction.ts';

/** Everything a rule may look at. Built by the pipeline from an Interaction. */
export interface PolicyInput {
  readonly identity: Principal;
  readonly credential: CredentialInfo;
  readonly connection: ConnectionInfo;
  readonly kind: InteractionKind;
  readonly summary: RequestSummary;
  readonly time: Date;
  /** The caller's live just-in-time grants for this connection (`grants`); none when absent. */
  readonly grants?: GrantsInput;
}

/** A live access grant as a condition reads it (approvals/grants.ts issues them). */
export interface GrantFact {
  readonly id: string;
  readonly connection: string;
  readonly reason: string;
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly approvedBy: readonly string[];
}

/**
 * The grants one decision may read. `consulted` is set when a condition actually read them: only
 * then does the decision depend on them (recorded, and its session ends if one is revoked).
 */
export interface GrantsInput {
  readonly items: readonly GrantFact[];
  consulted: boolean;
}

/** A compiled, immutable rule set. A reload builds a new one and swaps the reference. */
export interface PolicyEngine {
  decide(input: PolicyInput): Decision;
  /** Longest token lifetime (ms) allowed for a principal with these groups, if any rule limits it. */
  maxTokenTtlMs(groups: readonly string[]): number | null;
  readonly ruleCount: number;
  /** Whether any condition reads `request.entities`: only then must requests be scanned before deciding. */
  readonly readsEntities: boolean;
  /** Whether any condition reads `grants`: only then are the caller's grants looked up before deciding. */
  readonly readsGrants?: boolean;
  /** Whether any rule names a masking profile. */
  readonly masks: boolean;
  /** The profiles rules name, in rule order, once each (what may apply outside any request, e.g. a NOTIFY). */
  readonly maskingProfiles?: readonly string[];
  /** Whether any rule holds requests for approval. */
  readonly approves: boolean;
  /** The same decisions for requests to this connection, with only the rules that can match it (compiled once per connection). */
  forConnection(connection: ConnectionInfo): PolicyEngine;
}

/** Counters for limits. One node: in memory. Several replicas: backed by the store. */
export interface LimitTracker {
  /**
   * Takes a session slot or rejects with LimitExceeded (StoreError when shared counters are
   * unreachable). The returned release is idempotent, never throws, and finishes in the background.
   */
  acquireSession(identityId: string, connection: string, limits: LimitSpec): Promise<() => void>;
  /** Counts one request and its estimated LLM tokens in the current minute, or rejects with LimitExceeded (or StoreError). */
  consume(identityId: string, limits: LimitSpec, llmTokens: number): Promise<void>;
  /**
   * Counts LLM tokens a response reported beyond the request's estimate (never refuses: the
   * answer is already out; the next request over the limit is refused).
   */
  chargeTokens?(identityId: string, llmTokens: number): Promise<void>;
}
