import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';
import { outboundUrl } from './outbound-url.ts';

const DAY = 86_400_000;

/** `inventory`: when an agent counts as stale, and the scheduled report of new findings (src/inventory/, docs/agents.md). */
export const inventorySchema = z
  .object({
    /** An agent with a live credential unused this long is stale. */
    staleAfter: durationSchema.refine((ms) => ms > 0, 'must be longer than zero').default(30 * DAY),
    /** The window usage counts in: connections used, requests. */
    usageWindow: durationSchema.refine((ms) => ms > 0, 'must be longer than zero').default(30 * DAY),
    /** A credential younger than this is not yet judged on the connections it left unused. */
    scopeGrace: durationSchema.default(7 * DAY),
    /** This many distinct client addresses in one credential's live sessions at once is a finding. */
    manyAddresses: z.number().int().min(2).max(10_000).default(3),
    report: z
      .object({
        /** How often new findings are written to the audit trail (and posted to the webhook); 0 turns it off. */
        every: durationSchema.default(DAY),
        webhook: z
          .object({ url: outboundUrl, secret: z.string().min(16, 'use a secret of at least 16 characters (e.g. openssl rand -hex 32)') })
          .strict()
          .optional(),
      })
      .strict()
      .default({ every: DAY }),
  })
  .strict();

export type InventoryConfig = z.output<typeof inventorySchema>;

export const DEFAULT_INVENTORY: InventoryConfig = inventorySchema.parse({});
