import { MaskingError } from '../errors.ts';

/**
 * How much one masking call may scan (`maxScanBytes`). Over the limit, `refuse` fails the
 * call; `truncate` cuts the text at the limit and masks what is left.
 */
export class ScanBudget {
  private remaining: number;

  constructor(
    private readonly limit: number,
    private readonly onOversize: 'refuse' | 'truncate',
  ) {
    this.remaining = limit;
  }

  /** `text`, or its head when the budget runs out in truncate mode. */
  take(text: string): string {
    const bytes = Buffer.byteLength(text);
    if (bytes <= this.remaining) {
      this.remaining -= bytes;
      return text;
    }
    if (this.onOversize === 'refuse') {
      throw new MaskingError(`body exceeds the masking limit of ${this.limit} bytes (maxScanBytes)`);
    }
    const head = truncateUtf8(text, this.remaining);
    this.remaining = 0;
    return head;
  }
}

function truncateUtf8(text: string, bytes: number): string {
  if (bytes <= 0) return '';
  const head = Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD; drop it rather than invent a character.
  return head.endsWith('\uFFFD') && !text.startsWith(head) ? head.slice(0, -1) : head;
}
