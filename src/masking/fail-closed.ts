import { MaskingError } from '../errors.ts';

/** Runs `fn`; any failure becomes MaskingError, so masking never falls back to passing input through. */
export function failClosed<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MaskingError) throw err;
    throw new MaskingError('masking failed', { cause: err });
  }
}
