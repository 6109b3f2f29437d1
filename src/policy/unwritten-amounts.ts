import { WINDOW_MS, windowStart, type Window } from './counters.ts';

/** One key's amount in one fixed minute, as written to `limit_windows`. */
export interface WindowAmount {
  readonly key: string;
  readonly start: number;
  readonly amount: number;
}

/**
 * Amounts this replica has counted but not yet written to the shared counters, summed per key
 * and fixed minute, so that any number of charges becomes one row per key and minute.
 */
export class UnwrittenAmounts {
  readonly #byKey = new Map<string, Map<number, number>>();

  add(key: string, start: number, amount: number): void {
    let windows = this.#byKey.get(key);
    if (windows === undefined) this.#byKey.set(key, (windows = new Map()));
    windows.set(start, (windows.get(start) ?? 0) + amount);
  }

  /**
   * Removes and returns the amounts under `keys` (all keys when omitted), ordered by key and
   * minute: every writer locks rows in that one order, so two writers never deadlock.
   */
  take(keys?: readonly string[]): WindowAmount[] {
    const taken: WindowAmount[] = [];
    for (const key of keys ?? [...this.#byKey.keys()]) {
      const windows = this.#byKey.get(key);
      if (windows === undefined) continue;
      this.#byKey.delete(key);
      for (const [start, amount] of windows) taken.push({ key, start, amount });
    }
    return taken.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start));
  }

  /** Puts back amounts a write failed to store, except those too old to count at `now`. */
  restore(amounts: readonly WindowAmount[], now: number): void {
    const oldest = windowStart(now) - WINDOW_MS;
    for (const { key, start, amount } of amounts) if (start >= oldest) this.add(key, start, amount);
  }

  /** What is unwritten under `key` in the minute holding `now` and the one before it. */
  window(key: string, now: number): Window {
    const start = windowStart(now);
    const windows = this.#byKey.get(key);
    return { start, current: windows?.get(start) ?? 0, previous: windows?.get(start - WINDOW_MS) ?? 0 };
  }
}
