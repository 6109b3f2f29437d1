// Durations moved to util/durations.ts, shared with identity/ and config/; re-exported for the
// API's request parser and policy's public index.
export { parseDuration } from '../util/durations.ts';
