import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';
import { outboundUrl } from './outbound-url.ts';

/** `approvals.notify`: where approval notifications go (src/approvals/notify/). */
export const approvalNotifySchema = z
  .object({
    /** Generic receivers: JSON signed with HMAC-SHA256 under `secret`. */
    webhooks: z
      .array(z.object({ url: outboundUrl, secret: z.string().min(16, 'use a secret of at least 16 characters (e.g. openssl rand -hex 32)') }).strict())
      .default([]),
    /** Slack incoming webhooks (the address is the credential: give it as a ${ENV} reference). */
    slack: z.array(z.object({ webhookUrl: outboundUrl }).strict()).default([]),
    /** Per attempt. */
    timeout: durationSchema.refine((ms) => ms > 0, 'must be longer than zero').default(10_000),
    /** Attempts per notification and receiver, the first included. */
    maxAttempts: z.number().int().min(1).max(20).default(5),
    /** Notifications waiting per receiver; when full the oldest is dropped (and logged). */
    queueLimit: z.number().int().min(1).max(100_000).default(1_000),
  })
  .strict();

export type ApprovalNotifyConfig = z.output<typeof approvalNotifySchema>;
