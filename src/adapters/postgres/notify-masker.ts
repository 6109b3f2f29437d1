/**
 * NotificationResponse (LISTEN/NOTIFY) under masking. A notification belongs to no statement, so
 * no decision names its profile: the session's masker applies every profile a rule for the
 * connection can name (Pipeline.sessionTextMasker). The payload is masked; the channel is not:
 * the server delivers only channels this session LISTENs on, by exactly the name the client sent,
 * and a client routes notifications by it. A payload that cannot be masked is replaced by a
 * marker, never passed.
 */
import { BackendCode } from './message-codes.ts';

export const WITHHELD_PAYLOAD = '[withheld: masking failed]';

/** undefined forwards the frame unchanged; otherwise the frame to send instead. */
export function maskNotification(mask: ((text: string) => string) | null, buf: Buffer, start: number, end: number): Buffer | undefined {
  // shorter than its fixed part: it carries no payload
  if (mask === null || end - start < 9) return undefined;
  // 'A', int32 length, int32 sender's process id, channel\0, payload\0
  const channelEnd = nulAt(buf, start + 9, end);
  const payloadEnd = nulAt(buf, channelEnd + 1, end);
  const payload = buf.toString('utf8', Math.min(channelEnd + 1, end), payloadEnd);
  let masked: string;
  try {
    masked = mask(payload);
  } catch {
    masked = WITHHELD_PAYLOAD;
  }
  if (masked === payload && payloadEnd < end) return undefined;
  const channel = buf.subarray(start + 9, channelEnd);
  const body = Buffer.from(masked.replaceAll('\0', '\uFFFD'), 'utf8');
  const out = Buffer.allocUnsafe(1 + 4 + 4 + channel.length + 1 + body.length + 1);
  out[0] = BackendCode.NotificationResponse;
  let pos = out.writeInt32BE(out.length - 1, 1);
  pos += buf.copy(out, pos, start + 5, start + 9);
  pos += channel.copy(out, pos);
  out[pos++] = 0;
  pos += body.copy(out, pos);
  out[pos] = 0;
  return out;
}

function nulAt(buf: Buffer, from: number, end: number): number {
  if (from >= end) return end;
  const nul = buf.indexOf(0, from);
  return nul < 0 || nul >= end ? end : nul;
}
