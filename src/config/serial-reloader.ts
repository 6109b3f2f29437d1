/**
 * Runs `run` at most once at a time. A trigger while a run is in progress queues exactly one more
 * run after it, however many triggers arrive meanwhile: that run reads the newest state, so the
 * triggers in between have nothing left to add.
 */
export interface SerialReloader {
  /**
   * Starts a run now, or queues one after the current run. Settles as the first run that started
   * after this call settles (rejecting if it threw), so a caller can wait for its change to land.
   */
  trigger(): Promise<void>;
}

export function createSerialReloader(run: () => Promise<void>): SerialReloader {
  let active: Promise<void> | null = null;
  let queued: Promise<void> | null = null;

  const launch = (): Promise<void> => {
    // An async wrapper so that a run which throws synchronously still settles as a rejection.
    const current = (async () => run())();
    active = current;
    const settle = () => {
      // With a run queued, `active` must stay set until the queued run takes over: a trigger in the
      // microtasks between would otherwise start a second, concurrent run.
      if (active === current && queued === null) active = null;
    };
    current.then(settle, settle);
    return current;
  };

  return {
    trigger() {
      if (active === null) return launch();
      if (queued === null) {
        const previous = active;
        queued = previous.then(
          () => undefined,
          () => undefined,
        ).then(() => {
          queued = null;
          return launch();
        });
      }
      return queued;
    },
  };
}
