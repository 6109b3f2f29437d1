/**
 * Client → server messages the gateway originates towards the upstream database (its own
 * login with gateway-held credentials, and its own cancels). pg-protocol's serializer
 * already writes these and hands back a fresh Buffer each time, so we use it; only the
 * StartupMessage is ours, because pg-protocol's always appends client_encoding=UTF8 after the
 * caller's parameters, which would silently override a client_encoding we pass through.
 */
import { serialize } from 'pg-protocol';
import { ProtocolError } from '../../errors.ts';
import { PROTOCOL_3_0 } from './frontend-messages.ts';

/**
 * StartupMessage for protocol 3.0 with exactly these parameters, in this order. Throws a
 * ProtocolError if a name or value holds a NUL, which would smuggle in extra parameters.
 */
export function startupMessage(parameters: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(parameters);
  let length = 4 + 4 + 1;
  for (const [k, v] of entries) {
    if (k === '' || k.includes('\0') || v.includes('\0')) throw new ProtocolError(`invalid startup parameter "${k}"`);
    length += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  }
  const out = Buffer.allocUnsafe(length);
  let pos = out.writeInt32BE(length, 0);
  pos = out.writeInt32BE(PROTOCOL_3_0, pos);
  for (const [k, v] of entries) {
    pos += out.write(k, pos, 'utf8');
    out[pos++] = 0;
    pos += out.write(v, pos, 'utf8');
    out[pos++] = 0;
  }
  out[pos] = 0;
  return out;
}

export const passwordMessage: (password: string) => Buffer = serialize.password;
export const saslInitialResponse: (mechanism: string, clientFirstMessage: string) => Buffer =
  serialize.sendSASLInitialResponseMessage;
export const saslResponse: (clientFinalMessage: string) => Buffer = serialize.sendSCRAMClientFinalMessage;
export const queryMessage: (sql: string) => Buffer = serialize.query;
export const terminateMessage: () => Buffer = serialize.end;
/** Sent on a new connection of its own; `secretKey` as pg-protocol's BackendKeyData parser reports it. */
export const cancelRequest: (processId: number, secretKey: number) => Buffer = serialize.cancel;
