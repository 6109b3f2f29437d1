/**
 * Wake-ups for held requests and the expiry sweep. Every decision about time reads the injected
 * clock; a timer only says "look again", so tests drive both and never wait on wall time.
 */
export interface Timers {
  /** Calls `fn` once after about `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const REAL_TIMERS: Timers = {
  after(ms, fn) {
    const timer = setTimeout(fn, Math.max(0, Math.min(ms, 2_147_483_647)));
    // A pending wake-up never keeps the process alive on its own.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/**
 * Runs `task` every `every` ms, each run scheduled once the one before has settled (a slow store
 * never stacks runs); a failed run goes to `onError` and the next one still comes. Returns the stop.
 */
export function repeatAfter(timers: Timers, every: number, task: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  let stopped = false;
  let cancel = () => {};
  const tick = () => {
    void task()
      .catch(onError)
      .finally(() => {
        if (!stopped) cancel = timers.after(every, tick);
      });
  };
  cancel = timers.after(every, tick);
  return () => {
    stopped = true;
    cancel();
  };
}
