import { z } from 'zod';
import { parseDuration } from './durations.ts';

/** A duration such as `90s` or `1h30m`, read into milliseconds; a text that does not parse is a validation issue naming why. */
export function durationOf(text: z.ZodString) {
  return text.transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

export const durationSchema = durationOf(z.string());
