/**
 * `audit.retention` in gatehouse.yaml: how long each kind of audit record is kept before the purge
 * (audit/purge.ts) removes it. A kind left out is kept for good. Read once at start.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../util/durations.ts';

const DAY = 86_400_000;
/** Shorter than a day is a typo (90m for 90d) more often than a wish: the records would be gone by the next run. */
export const MIN_RETENTION_MS = DAY;
/** A hundred years: beyond it, the cutoff arithmetic leaves the range of real times. */
export const MAX_RETENTION_MS = 36_500 * DAY;

const retention = z.string().transform((text, ctx) => {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message}; leave the kind out to keep it for good` });
    return z.NEVER;
  }
  if (ms < MIN_RETENTION_MS || ms > MAX_RETENTION_MS) {
    ctx.addIssue({ code: 'custom', message: `retention ${JSON.stringify(text)} is outside 1d…36500d; leave the kind out to keep it for good` });
    return z.NEVER;
  }
  return ms;
});

const every = z.string().transform((text, ctx) => {
  try {
    const ms = parseDuration(text);
    if (ms >= 60_000) return ms;
    ctx.addIssue({ code: 'custom', message: `the purge runs at most once a minute; got ${text}` });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
  return z.NEVER;
});

export const auditRetentionSchema = z
  .object({
    /** Interaction records (requests, decisions, bodies' digests). */
    interactions: retention.optional(),
    /** Session records; a session goes only once its interactions have. */
    sessions: retention.optional(),
    /** Audit events: admin actions, approvals, tokens, identities, policy reloads, earlier purges. */
    events: retention.optional(),
    /** Request and response bodies: the interaction row, its digests and its seal stay. */
    bodies: retention.optional(),
    /** How often the purge runs. */
    every: every.default(DAY),
    /** Rows removed per statement: bounds each statement's locks and memory. */
    batch: z.number().int().min(1).max(100_000).default(1_000),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.sessions !== undefined && r.interactions !== undefined && r.sessions < r.interactions) {
      ctx.addIssue({ code: 'custom', path: ['sessions'], message: `sessions (${formatDuration(r.sessions)}) must be kept at least as long as interactions (${formatDuration(r.interactions)}): a session goes after its interactions` });
    }
    if (r.sessions !== undefined && r.interactions === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sessions'], message: 'sessions cannot go while their interactions are kept for good: set interactions too' });
    }
  });

export type AuditRetentionConfig = z.output<typeof auditRetentionSchema>;
