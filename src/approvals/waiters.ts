/**
 * Held requests on this replica, by approval id: an `approval.decided` event (from any replica)
 * wakes the ones waiting for that approval, and stop() releases every one without deciding anything,
 * so a gateway that stops leaves its pending approvals pending.
 */
export class Waiters {
  private readonly byId = new Map<string, Set<() => void>>();
  private readonly onStop = new Set<() => void>();
  private stopped = false;

  /** Calls `wake` on every event for `id`; the returned function stops it. */
  add(id: string, wake: () => void, stop: () => void): () => void {
    let set = this.byId.get(id);
    if (!set) this.byId.set(id, (set = new Set()));
    set.add(wake);
    this.onStop.add(stop);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.byId.delete(id);
      this.onStop.delete(stop);
    };
  }

  wake(id: string): void {
    for (const wake of [...(this.byId.get(id) ?? [])]) wake();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  get size(): number {
    let n = 0;
    for (const set of this.byId.values()) n += set.size;
    return n;
  }

  stop(): void {
    this.stopped = true;
    for (const stop of [...this.onStop]) stop();
  }
}
