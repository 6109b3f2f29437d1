import { LimitExceeded } from '../errors.ts';
import type { LimitSpec } from '../interaction.ts';
import { createMemoryCounters, type LimitCounters, type SharedLimitCounters } from './counters.ts';
import type { LimitTracker } from './types.ts';

export interface LimitTrackerOptions {
  /** Defaults to in-memory counters, right for a single node; shared counters hold across replicas. */
  readonly counters?: LimitCounters | SharedLimitCounters;
  readonly now?: () => number;
}

/** A LimitTracker that can also report its counts (for tests, metrics and the admin API). */
export interface InspectableLimitTracker extends LimitTracker {
  sessions(scope: 'identity' | 'connection', key: string): Promise<number>;
  /** Requests and LLM tokens counted in the sliding minute ending now. */
  usage(identityId: string): Promise<{ readonly requests: number; readonly tokens: number }>;
}

// Sessions and usage are counted even when the matched rule sets no limit, so a later rule that
// does set one sees the true number. Such counts cannot refuse anything, so shared counters keep
// them off the request's path (see SharedLimitCounters).
const identityKey = (id: string) => `identity:${id}`;
const connectionKey = (name: string) => `connection:${name}`;
const requestsKey = (id: string) => `requests:${id}`;
const tokensKey = (id: string) => `tokens:${id}`;

export function createLimitTracker(options: LimitTrackerOptions = {}): InspectableLimitTracker {
  const counters = options.counters ?? createMemoryCounters();
  const now = options.now ?? Date.now;
  // Names this tracker's leases; shared counters make it unique across replicas.
  let lastHolder = 0;

  return {
    async acquireSession(identityId, connection, limits: LimitSpec) {
      const keys = [identityKey(identityId), connectionKey(connection)];
      const holder = String(++lastHolder);
      const full = await counters.tryAcquire(
        [
          { key: keys[0]!, max: limits.concurrentSessionsPerIdentity },
          { key: keys[1]!, max: limits.concurrentSessionsPerConnection },
        ],
        holder,
      );
      if (full === 0) {
        throw new LimitExceeded(
          'concurrentSessionsPerIdentity',
          `this identity already has ${limits.concurrentSessionsPerIdentity} concurrent sessions, the most allowed; end one and retry`,
        );
      }
      if (full === 1) {
        throw new LimitExceeded(
          'concurrentSessionsPerConnection',
          `connection ${connection} already has ${limits.concurrentSessionsPerConnection} concurrent sessions, the most allowed; retry later`,
        );
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        void counters.release(keys, holder);
      };
    },

    async consume(identityId, limits: LimitSpec, llmTokens) {
      const tokens = Number.isFinite(llmTokens) && llmTokens > 0 ? llmTokens : 0;
      const refused = await counters.tryCharge(
        [
          { key: requestsKey(identityId), max: limits.requestsPerMinute, amount: 1 },
          { key: tokensKey(identityId), max: limits.llmTokensPerMinute, amount: tokens },
        ],
        now(),
      );
      if (refused === null) return;
      const retryAfterSeconds = refused.retryAfterMs === null ? undefined : Math.max(1, Math.ceil(refused.retryAfterMs / 1000));
      if (refused.index === 0) {
        throw new LimitExceeded(
          'requestsPerMinute',
          `more than ${limits.requestsPerMinute} requests per minute for this identity; retry in ${retryAfterSeconds}s`,
          retryAfterSeconds,
        );
      }
      throw new LimitExceeded(
        'llmTokensPerMinute',
        retryAfterSeconds === undefined
          ? `this request's ${tokens} estimated tokens exceed the limit of ${limits.llmTokensPerMinute} tokens per minute on their own`
          : `more than ${limits.llmTokensPerMinute} LLM tokens per minute for this identity; retry in ${retryAfterSeconds}s`,
        retryAfterSeconds,
      );
    },

    async chargeTokens(identityId, llmTokens) {
      if (!Number.isFinite(llmTokens) || llmTokens <= 0) return;
      await counters.tryCharge([{ key: tokensKey(identityId), max: undefined, amount: llmTokens }], now());
    },

    async sessions(scope, key) {
      return counters.held(scope === 'identity' ? identityKey(key) : connectionKey(key));
    },

    async usage(identityId) {
      const at = now();
      const [requests, tokens] = await Promise.all([counters.windowTotal(requestsKey(identityId), at), counters.windowTotal(tokensKey(identityId), at)]);
      return { requests, tokens };
    },
  };
}
