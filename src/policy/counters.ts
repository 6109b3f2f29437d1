/**
 * The state behind limits on one node, in memory. Each call is all-or-nothing: it either changes
 * every key it names or none, so one slot or one request is never half counted.
 */
export interface LimitCounters {
  /** Takes one slot under every key, unless one is at its maximum: then returns that key's index and takes nothing. */
  tryAcquire(slots: readonly CounterLimit[]): number;
  /** Gives back one slot under each key; a count never goes below zero. */
  release(keys: readonly string[]): void;
  /**
   * Adds each amount to its key's one-minute sliding window, unless one would pass its maximum:
   * then returns that index and how long until it would fit (null if it never can) and adds nothing.
   */
  tryCharge(charges: readonly CounterCharge[], now: number): ChargeRefusal | null;
  /** Slots held under a key. */
  held(key: string): number;
  /** The sliding-window total under a key at `now`. */
  windowTotal(key: string, now: number): number;
}

/** A key and its maximum; with no maximum the key is counted but never refuses. */
export interface CounterLimit {
  readonly key: string;
  readonly max: number | undefined;
}

export interface CounterCharge extends CounterLimit {
  readonly amount: number;
}

export type ChargeRefusal = { readonly index: number; readonly retryAfterMs: number | null };

/**
 * The same operations on counters kept outside the process (PostgreSQL), shared between replicas.
 * A slot is a lease named by `holder`, so releasing frees exactly that session's slots. A call
 * that checks a maximum rejects with StoreError when the counters cannot be reached: limits fail
 * closed. A call with no maximum cannot refuse, so it need not wait on anything: an implementation
 * may count it locally and share it later, as long as its own checks count it at once.
 */
export interface SharedLimitCounters {
  tryAcquire(slots: readonly CounterLimit[], holder: string): Promise<number>;
  /** Never rejects: a lease it fails to delete expires on its own. */
  release(keys: readonly string[], holder: string): Promise<void>;
  tryCharge(charges: readonly CounterCharge[], now: number): Promise<ChargeRefusal | null>;
  held(key: string): Promise<number>;
  windowTotal(key: string, now: number): Promise<number>;
  /** Stops renewing leases (they then expire) and closes connections. */
  close(): Promise<void>;
}

export const WINDOW_MS = 60_000;

/** Two fixed one-minute buckets; the previous one counts in proportion to how much of it the sliding minute still covers. */
export interface Window {
  start: number;
  current: number;
  previous: number;
}

// Rounding in the weighting must not refuse a request that exactly fits.
export const EPSILON = 1e-9;

export const windowStart = (now: number) => now - (now % WINDOW_MS);

function roll(window: Window, now: number): void {
  const start = windowStart(now);
  if (start === window.start) return;
  window.previous = start - window.start === WINDOW_MS ? window.current : 0;
  window.current = 0;
  window.start = start;
}

export const estimate = (window: Window, now: number) => window.previous * (1 - (now - window.start) / WINDOW_MS) + window.current;

/** Milliseconds until `amount` more fits under `max`, assuming nothing else is added meanwhile. */
export function waitUntilFits(window: Window, amount: number, max: number, now: number): number | null {
  if (amount > max) return null;
  const elapsed = now - window.start;
  if (window.current + amount <= max) {
    // The previous bucket's weight must fall far enough within this window.
    const fitsAt = WINDOW_MS * (1 - (max - window.current - amount) / window.previous);
    return Math.max(0, fitsAt - elapsed);
  }
  // Only once this bucket has become the previous one, and weighs little enough.
  const fitsAt = WINDOW_MS * (1 - (max - amount) / window.current);
  return WINDOW_MS - elapsed + Math.max(0, fitsAt);
}

export function createMemoryCounters(): LimitCounters {
  const slots = new Map<string, number>();
  const windows = new Map<string, Window>();
  let lastSweep = 0;

  // Windows idle for two minutes hold nothing; drop them at most once a minute.
  const sweep = (now: number) => {
    if (now - lastSweep < WINDOW_MS) return;
    lastSweep = now;
    for (const [key, window] of windows) if (now - window.start >= 2 * WINDOW_MS) windows.delete(key);
  };

  const windowAt = (key: string, now: number): Window => {
    let window = windows.get(key);
    if (window === undefined) {
      window = { start: windowStart(now), current: 0, previous: 0 };
      windows.set(key, window);
    } else {
      roll(window, now);
    }
    return window;
  };

  return {
    tryAcquire(limits) {
      for (let i = 0; i < limits.length; i++) {
        const { key, max } = limits[i]!;
        if (max !== undefined && (slots.get(key) ?? 0) >= max) return i;
      }
      for (const { key } of limits) slots.set(key, (slots.get(key) ?? 0) + 1);
      return -1;
    },
    release(keys) {
      for (const key of keys) {
        const held = slots.get(key) ?? 0;
        if (held <= 1) slots.delete(key);
        else slots.set(key, held - 1);
      }
    },
    tryCharge(charges, now) {
      sweep(now);
      for (let i = 0; i < charges.length; i++) {
        const { key, max, amount } = charges[i]!;
        if (max === undefined) continue;
        const window = windowAt(key, now);
        if (estimate(window, now) + amount > max + EPSILON) {
          return { index: i, retryAfterMs: waitUntilFits(window, amount, max, now) };
        }
      }
      for (const { key, amount } of charges) windowAt(key, now).current += amount;
      return null;
    },
    held(key) {
      return slots.get(key) ?? 0;
    },
    windowTotal(key, now) {
      const window = windows.get(key);
      if (window === undefined) return 0;
      roll(window, now);
      return estimate(window, now);
    },
  };
}
