import type { Logger } from 'pino';

/**
 * An approval as notifications see it: the shape the approvals service shows (ApprovalView),
 * declared here so notifications depend on nothing but what they read.
 */
export interface NotifyApproval {
  readonly id: string;
  readonly status: 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn' | 'used';
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly requester: { readonly id: string; readonly name: string };
  readonly agent: string;
  readonly connection: string;
  readonly kind: string;
  readonly rule: string;
  readonly approvers: readonly string[];
  readonly required: number;
  /** Already masked by the approvals service; notifications add nothing to it. */
  readonly summary: Readonly<Record<string, unknown>>;
  readonly votes: readonly {
    readonly approver: string;
    readonly vote: 'approve' | 'deny';
    readonly comment: string | null;
    readonly at: number;
    readonly breakGlass: boolean;
  }[];
  readonly decidedAt: number | null;
  readonly usedAt: number | null;
}

export type NotifyEventType = 'approval.created' | 'approval.decided';

export interface NotifyEvent {
  readonly type: NotifyEventType;
  readonly approval: NotifyApproval;
  /** Where approvers reach this gateway (shown next to the command to approve). */
  readonly gatewayUrl: string;
}

/** Wake-ups, the approvals service's Timers shape: `after` calls `fn` once and returns a cancel. */
export interface NotifyTimers {
  after(ms: number, fn: () => void): () => void;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface NotifierDeps {
  readonly logger: Logger;
  readonly now: () => number;
  readonly fetch?: FetchLike;
  readonly timers?: NotifyTimers;
  /** In [0, 1): spreads retries so receivers that fail together are not all retried at once. */
  readonly random?: () => number;
}

export interface ApprovalNotifier {
  /** Queues the event for every receiver and returns at once; never throws. */
  notify(event: NotifyEvent): void;
  /** Stops taking events, waits for attempts under way (each bounded by the timeout), drops the rest. */
  close(): Promise<void>;
}
