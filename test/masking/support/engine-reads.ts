/**
 * A step count for the linear-time engine: re2js reads its input one code unit at a time through
 * String.prototype.charCodeAt, so counting those calls counts the engine's steps (its prefilters
 * use indexOf, which is linear by itself). Counting, not timing: the figure is the same on any
 * machine and under any load.
 */
export function countEngineReads<T>(run: () => T): { reads: number; result: T } {
  const original = String.prototype.charCodeAt;
  let reads = 0;
  String.prototype.charCodeAt = function (this: string, index: number): number {
    reads++;
    return original.call(this, index);
  };
  try {
    const result = run();
    return { reads, result };
  } finally {
    String.prototype.charCodeAt = original;
  }
}
