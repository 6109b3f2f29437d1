/**
 * What replicas tell each other. Every replica of one store hears every event, its own included,
 * so a handler is the one place a change takes effect: the API publishes, it never applies a
 * change to this replica alone. PostgreSQL carries events between replicas (coordination-postgres.ts);
 * one node keeps them in memory (this file), through the same interface.
 */

import { z } from 'zod';
import type { Store } from './types.ts';

export type CoordinationEvent =
  /** Tokens revoked (by id, derived ones included): every replica ends what runs on them. */
  | { readonly type: 'tokens.revoked'; readonly tokenIds: readonly string[]; readonly reason: string }
  /** A person or service account was disabled: cached verifications of theirs are dropped. */
  | { readonly type: 'principal.disabled'; readonly principalId: string }
  /** A connection was added, changed or removed through the API. */
  | { readonly type: 'connections.changed'; readonly name: string }
  /** Some replica was asked to reload policy and masking: each reloads its own files. */
  | { readonly type: 'policy.reload'; readonly requestedBy: string }
  /** An approval changed state (decided, withdrawn, expired, used): a request held for it on any replica looks again. */
  | { readonly type: 'approval.decided'; readonly approvalId: string }
  /** Just-in-time access grants revoked or expired: every replica ends the sessions whose decisions relied on them. */
  | { readonly type: 'grants.ended'; readonly grantIds: readonly string[]; readonly reason: 'revoked' | 'expired' };

export type CoordinationEventType = CoordinationEvent['type'];

// Ids and names as the gateway makes them: printable, bounded. A control character cannot reach a query.
const id = z.string().min(1).max(200).regex(/^[^\u0000-\u001f\u007f]+$/);

/**
 * What a replica accepts as an event read from the store: anyone who can write to the database
 * can write a row, so a malformed one is skipped rather than handed to the handlers.
 */
export const coordinationEventSchema: z.ZodType<CoordinationEvent> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tokens.revoked'), tokenIds: z.array(id).max(100_000), reason: z.string().max(200) }).strict(),
  z.object({ type: z.literal('principal.disabled'), principalId: id }).strict(),
  z.object({ type: z.literal('connections.changed'), name: id }).strict(),
  z.object({ type: z.literal('policy.reload'), requestedBy: z.string().max(200) }).strict(),
  z.object({ type: z.literal('approval.decided'), approvalId: id }).strict(),
  z.object({ type: z.literal('grants.ended'), grantIds: z.array(id).max(10_000), reason: z.enum(['revoked', 'expired']) }).strict(),
]);

export type EventHandler = (event: CoordinationEvent) => void;

export interface Coordination {
  /** This replica's id: sessions it opens carry it, so clean-up after a crash touches only its own. */
  readonly replicaId: string;
  /**
   * Delivers the event to every replica, this one included, at most a poll interval late
   * (PostgreSQL: at once through NOTIFY, else by the next poll). Resolves once the event is stored,
   * so a caller that got an answer knows every replica will hear it; rejects with StoreError when
   * it cannot be.
   */
  publish(event: CoordinationEvent): Promise<void>;
  /** Handlers run on this replica for every event, once each; the returned function unsubscribes. */
  subscribe(handler: EventHandler): () => void;
  /**
   * Stops hearing events and marks this replica stopped. Work of this replica still open then
   * (nothing, after a clean drain) is closed with `reason`.
   */
  close(reason?: string): Promise<void>;
}

/** One node: events go straight to this process's handlers. */
export class MemoryCoordination implements Coordination {
  private readonly handlers = new Set<EventHandler>();
  /** Published before anyone subscribed (the gateway is still starting): kept for the first handler. */
  private early: CoordinationEvent[] | null = [];

  /** `store`: where this replica's leftover work is closed on close; none in tests of the event flow alone. */
  constructor(
    readonly replicaId: string,
    private readonly store: Pick<Store, 'closeWorkOf'> | null = null,
  ) {}

  async publish(event: CoordinationEvent): Promise<void> {
    if (this.early) this.early.push(event);
    else deliver(this.handlers, event);
  }

  subscribe(handler: EventHandler): () => void {
    this.handlers.add(handler);
    const early = this.early;
    this.early = null;
    for (const event of early ?? []) deliver([handler], event);
    return () => this.handlers.delete(handler);
  }

  async close(reason = 'stopped'): Promise<void> {
    this.handlers.clear();
    await this.store?.closeWorkOf([this.replicaId], Date.now(), reason);
  }
}

/** A handler that throws must not keep the event from the others. */
export function deliver(handlers: Iterable<EventHandler>, event: CoordinationEvent, onError?: (err: unknown) => void): void {
  for (const handler of [...handlers]) {
    try {
      handler(event);
    } catch (err) {
      onError?.(err);
    }
  }
}
