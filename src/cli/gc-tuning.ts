import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived the last full collection, in percent.
 * On a machine with plenty of memory V8 allows up to 300% (a limit of 4× the live heap, plus the
 * young generation), and a gateway at saturation promotes a few KiB of short-lived request objects
 * per request, so its RSS climbs towards that limit: measured, 240 MiB after 30,000 requests. At 25%
 * the limit is the live heap (~30 MiB) plus V8's minimum step and the young generation; a full
 * collection then comes every few thousand requests for a few milliseconds of marking, about 1% of
 * the CPU (bench/README.md has the figures).
 */
export const SERVER_HEAP_GROWING_PERCENT = 25;

/** The V8 flags a long-running gateway sets on itself, leaving out any the operator chose on the command line. */
export function serverGcFlags(execArgv: readonly string[]): string[] {
  const chosen = execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
  return chosen ? [] : [`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`];
}

/**
 * Applies serverGcFlags to this process. Only flags V8 reads at every collection belong here:
 * sizes fixed when the heap is created (--max-semi-space-size, --max-old-space-size) can only be
 * given on the command line or in NODE_OPTIONS.
 */
export function applyServerGcTuning(execArgv: readonly string[] = process.execArgv): string[] {
  const flags = serverGcFlags(execArgv);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
