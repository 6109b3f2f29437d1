import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';

/** Longest grant any configuration may allow: a standing grant is a role, not just-in-time access. */
export const MAX_GRANT_MS = 7 * 86_400_000;

const positive = durationSchema.refine((ms) => ms > 0, 'must be longer than zero');
const grantLength = positive.refine((ms) => ms <= MAX_GRANT_MS, 'at most 7d: longer access is a role grant (identity.roles), not just-in-time access');

const settings = {
  /** Groups whose members (holding the approver or admin role) may approve a request. */
  approvers: z.array(z.string().min(1)).min(1),
  /** Distinct approvals needed. */
  required: z.number().int().min(1).max(10),
  /** The longest grant a request may ask for (`--for`). */
  maxDuration: grantLength,
  /** How long a request waits for approvers before it expires. */
  timeout: positive,
};

/** `approvals.access.connections.<name>`: any of the settings, for requests to that connection. */
const connectionAccessSchema = z.object(settings).partial().strict();

/** `approvals.access`: who approves just-in-time access requests, how many, for how long at most. */
export const approvalAccessSchema = z
  .object({
    ...settings,
    approvers: settings.approvers.default(['security']),
    required: settings.required.default(1),
    maxDuration: grantLength.default(8 * 3_600_000),
    timeout: positive.default(3_600_000),
    connections: z.record(z.string().min(1), connectionAccessSchema).default({}),
  })
  .strict();

export type ApprovalAccessConfig = z.infer<typeof approvalAccessSchema>;

/** What applies to a request for `connection`: the per-connection settings over the defaults. */
export interface AccessTerms {
  readonly approvers: readonly string[];
  readonly required: number;
  readonly maxDurationMs: number;
  readonly timeoutMs: number;
}

export function accessTerms(config: ApprovalAccessConfig | undefined, connection: string): AccessTerms {
  const base = config ?? approvalAccessSchema.parse({});
  const own = Object.hasOwn(base.connections, connection) ? base.connections[connection] : undefined;
  return {
    approvers: own?.approvers ?? base.approvers,
    required: own?.required ?? base.required,
    maxDurationMs: own?.maxDuration ?? base.maxDuration,
    timeoutMs: own?.timeout ?? base.timeout,
  };
}
