/**
 * Masks what the database answers to one statement under its admission's profile: rows by column
 * and content, notice and error texts (COPY output: copy-out.ts). Anything it cannot place (binary
 * results, rows without a description) is withheld: the rows are dropped and the command's result becomes a
 * masking error the client can read.
 */
import { MaskingError, toGatewayError } from '../../errors.ts';
import { BackendWriter } from './backend-writer.ts';
import { readDataRow, readNoticeFields, readRowDescription, writeNoticeFrame } from './backend-frames.ts';
import type { Expectation } from './extended-tracker.ts';
import { BackendCode } from './message-codes.ts';
import { errorFields } from './render.ts';

const writer = new BackendWriter();
/** Notice fields that carry text (and so values): message, detail, hint, where. */
const TEXT_FIELDS = new Set(['M', 'D', 'H', 'W']);

/** A RowDescription at the head of a masked result; null drops it when the result must be withheld. */
export function describeResult(e: Expectation, buf: Buffer, start: number, end: number): null | undefined {
  if (!e.masked) return undefined;
  e.columns = readRowDescription(buf, start, end);
  if (e.columns.formats.some((f) => f === 1)) {
    e.maskFailure = new MaskingError('a masking profile applies and the result is in binary format, which cannot be masked; it was withheld');
    return null;
  }
  return undefined;
}

/** One DataRow of a masked result, masked; null while the result is withheld. */
export function maskRow(e: Expectation, buf: Buffer, start: number, end: number): Buffer | null {
  if (e.maskFailure) return null;
  // a Describe in the same batch answers before the rows, after the Execute was sent
  const columns = e.columns ?? e.portal?.columns ?? e.portal?.statement.columns ?? null;
  if (columns === null) {
    e.maskFailure = new MaskingError('rows arrived without a row description, so they cannot be masked by column; they were withheld (send Describe)');
    return null;
  }
  try {
    return writer.dataRow(e.admission!.maskRow(columns.names, readDataRow(buf, start, end))).flush();
  } catch (err) {
    e.maskFailure = toGatewayError(err);
    return null;
  }
}

/** A notice or error frame with its text fields masked. */
export function maskNotice(e: Expectation, type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, buf: Buffer, start: number, end: number): Buffer {
  return maskNoticeWith((text) => maskText(e, text), type, buf, start, end);
}

/** A notice or error whose text fields go through `mask`, which must not throw. */
export function maskNoticeWith(mask: (text: string) => string, type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, buf: Buffer, start: number, end: number): Buffer {
  const notice = readNoticeFields(buf, start, end);
  const masked = notice.fields.map(([code, value]) => [code, TEXT_FIELDS.has(code) ? mask(value) : value] as const);
  return writeNoticeFrame(type, { fields: masked });
}

export function maskText(e: Expectation, text: string): string {
  try {
    return e.admission?.maskText(text) ?? text;
  } catch {
    return '[withheld: masking failed]';
  }
}

/** The withheld result's end: the client sees the masking error where the command's result would be. */
export function maskFailureFrame(e: Expectation): Buffer {
  const failure = e.maskFailure!;
  e.error = { code: failure.code, message: failure.message };
  e.maskFailure = null;
  return writer.errorResponse(errorFields(failure)).flush();
}

/** The refusal the client sees in place of the upstream's error for a stand-in message. */
export function refusalFrame(e: Expectation): Buffer {
  return writer.errorResponse(errorFields(e.refusal!)).flush();
}
