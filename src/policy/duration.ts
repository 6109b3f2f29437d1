// Durations live in util/durations.ts (shared with identity/ and config/). This re-export stays only
// until api/request.ts and test/policy/duration.test.ts import util/durations.ts themselves.
export { parseDuration } from '../util/durations.ts';
