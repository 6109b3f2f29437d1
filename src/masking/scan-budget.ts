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
    /** The request this call is part of, when it has one: every call of the request draws on it. */
    private readonly request?: RequestScanBudget,
  ) {
    this.remaining = limit;
  }

  /** `text`, or its head when the budget runs out in truncate mode. */
  take(text: string): string {
    const bytes = Buffer.byteLength(text);
    if (bytes <= this.remaining) {
      this.remaining -= bytes;
      this.request?.charge(bytes);
      return text;
    }
    if (this.onOversize === 'refuse') {
      throw new MaskingError(`body exceeds the masking limit of ${this.limit} bytes (maxScanBytes)`);
    }
    const head = truncateUtf8(text, this.remaining);
    this.remaining = 0;
    this.request?.charge(Buffer.byteLength(head));
    return head;
  }
}

export interface RequestScanLimits {
  /** Bytes one request may have scanned, over all its bodies, stream chunks, rows and values. */
  readonly maxRequestScanBytes: number;
  /** Detector work one request may cause: bytes scanned times the profile's work per byte. */
  readonly maxRequestScanWork: number;
}

/**
 * What one request (an HTTP exchange, a SQL statement's result, an MCP call) may cost the masker
 * in all, whatever the protocol splits it into: a response streamed in a million chunks or a result
 * of a million rows cannot add up to more than the limits. Over either, masking fails, and the
 * caller refuses what is left (fails closed): nothing unscanned is ever passed on.
 */
export class RequestScanBudget {
  private bytes = 0;
  private work = 0;

  constructor(
    private readonly limits: RequestScanLimits,
    /** Detector work per byte for the profile (masking/profile.ts: each detector's weight). */
    private readonly workPerByte: number,
  ) {}

  charge(bytes: number): void {
    this.bytes += bytes;
    this.work += bytes * this.workPerByte;
    if (this.bytes > this.limits.maxRequestScanBytes) {
      throw new MaskingError(`the request needs more than ${this.limits.maxRequestScanBytes} bytes scanned (maxRequestScanBytes); what is left is refused`);
    }
    if (this.work > this.limits.maxRequestScanWork) {
      throw new MaskingError(`the request needs more than ${this.limits.maxRequestScanWork} units of detector work (maxRequestScanWork); what is left is refused`);
    }
  }

  get scanned(): { readonly bytes: number; readonly work: number } {
    return { bytes: this.bytes, work: this.work };
  }
}

function truncateUtf8(text: string, bytes: number): string {
  if (bytes <= 0) return '';
  const head = Buffer.from(text, 'utf8').subarray(0, bytes).toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD; drop it rather than invent a character.
  return head.endsWith('\uFFFD') && !text.startsWith(head) ? head.slice(0, -1) : head;
}
