/** A clock and wake-ups the test moves by hand: held requests never wait on wall time. */
import type { Timers } from '../../src/approvals/index.ts';

export class ManualTime implements Timers {
  private readonly pending = new Set<{ fn: () => void }>();
  constructor(public current = 1_700_000_000_000) {}

  readonly now = (): number => this.current;

  advance(ms: number): void {
    this.current += ms;
  }

  after(_ms: number, fn: () => void): () => void {
    const entry = { fn };
    this.pending.add(entry);
    return () => this.pending.delete(entry);
  }

  /** Wakes everything scheduled so far (held requests look again; the expiry sweep runs). */
  fire(): void {
    const due = [...this.pending];
    this.pending.clear();
    for (const entry of due) entry.fn();
  }
}
