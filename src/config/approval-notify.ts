import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';

// Messages never repeat the value: a Slack webhook address is itself the credential.
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

const notifyUrl = z
  .string()
  .refine((value) => URL.canParse(value), 'expected an absolute URL')
  .refine((value) => {
    if (!URL.canParse(value)) return true;
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  }, 'use https:// (plain http is accepted only for a loopback address, e.g. a local test receiver)')
  .refine((value) => !URL.canParse(value) || (new URL(value).username === '' && new URL(value).password === ''), 'must not hold a user name or password');

/** `approvals.notify`: where approval notifications go (src/approvals/notify/). */
export const approvalNotifySchema = z
  .object({
    /** Generic receivers: JSON signed with HMAC-SHA256 under `secret`. */
    webhooks: z
      .array(z.object({ url: notifyUrl, secret: z.string().min(16, 'use a secret of at least 16 characters (e.g. openssl rand -hex 32)') }).strict())
      .default([]),
    /** Slack incoming webhooks (the address is the credential: give it as a ${ENV} reference). */
    slack: z.array(z.object({ webhookUrl: notifyUrl }).strict()).default([]),
    /** Per attempt. */
    timeout: durationSchema.refine((ms) => ms > 0, 'must be longer than zero').default(10_000),
    /** Attempts per notification and receiver, the first included. */
    maxAttempts: z.number().int().min(1).max(20).default(5),
    /** Notifications waiting per receiver; when full the oldest is dropped (and logged). */
    queueLimit: z.number().int().min(1).max(100_000).default(1_000),
  })
  .strict();

export type ApprovalNotifyConfig = z.output<typeof approvalNotifySchema>;
