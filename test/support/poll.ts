import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Asks `check` again until it holds, at most `tries` times: for state another process settles (a
 * record completed after the reply, a server-side query becoming active) where no event reaches the
 * test. Bounded by count, not by a deadline, so a slow machine makes it slower, never wrong.
 */
export async function pollUntil(check: () => boolean | Promise<boolean>, what: string, tries = 200, pauseMs = 25): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await sleep(pauseMs);
  }
  throw new Error(`${what}: not reached after ${tries} tries`);
}
