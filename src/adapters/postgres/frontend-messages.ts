/**
 * Client → server messages of the PostgreSQL protocol 3.x, and the decoders that turn one
 * complete, framed message into its fields. Framing (lengths, buffering across chunks,
 * limits) is codec.ts's job; these decoders see exactly one message's bytes.
 *
 * Every message keeps `raw`: its exact bytes, type byte and length included, so the adapter
 * can forward it verbatim. Buffers inside a message (`raw`, Bind parameters, CopyData) are
 * views of memory the parser never writes again: see FrontendParser for the lifetime rule.
 */
import { ProtocolError } from '../../errors.ts';
import { BodyReader, Malformed } from './body-reader.ts';
import { FrontendCode } from './message-codes.ts';

export const PROTOCOL_3_0 = 196608;
const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
const CANCEL_REQUEST_CODE = 80877102;

/** Protocol 3.2 allows cancel keys of up to 256 bytes; 3.0 uses 4. */
const MAX_CANCEL_KEY_BYTES = 256;

export interface StartupMessage {
  readonly type: 'startup';
  readonly raw: Buffer;
  readonly majorVersion: number;
  readonly minorVersion: number;
  /** Parameters as sent (`user`, `database`, `application_name`, `options`, `_pq_.*` …); a repeated key keeps its last value, as PostgreSQL does. */
  readonly parameters: Readonly<Record<string, string>>;
}
export interface SslRequest { readonly type: 'sslRequest'; readonly raw: Buffer }
export interface GssEncRequest { readonly type: 'gssEncRequest'; readonly raw: Buffer }
export interface CancelRequest {
  readonly type: 'cancelRequest';
  readonly raw: Buffer;
  readonly processId: number;
  readonly secretKey: Buffer;
}
export interface QueryMessage { readonly type: 'query'; readonly raw: Buffer; readonly sql: string }
export interface ParseMessage {
  readonly type: 'parse';
  readonly raw: Buffer;
  /** Prepared statement name; '' is the unnamed statement. */
  readonly name: string;
  readonly sql: string;
  readonly paramTypes: readonly number[];
}
export interface BindMessage {
  readonly type: 'bind';
  readonly raw: Buffer;
  readonly portal: string;
  readonly statement: string;
  /** 0 text, 1 binary; none means all text, one means it applies to every parameter. */
  readonly paramFormats: readonly number[];
  /** Parameter values as sent; null is SQL NULL (length -1). */
  readonly params: readonly (Buffer | null)[];
  readonly resultFormats: readonly number[];
}
export interface DescribeMessage {
  readonly type: 'describe';
  readonly raw: Buffer;
  readonly target: 'S' | 'P';
  readonly name: string;
}
export interface ExecuteMessage {
  readonly type: 'execute';
  readonly raw: Buffer;
  readonly portal: string;
  /** 0 means no limit. */
  readonly maxRows: number;
}
export interface CloseMessage {
  readonly type: 'close';
  readonly raw: Buffer;
  readonly target: 'S' | 'P';
  readonly name: string;
}
export interface SyncMessage { readonly type: 'sync'; readonly raw: Buffer }
export interface FlushMessage { readonly type: 'flush'; readonly raw: Buffer }
export interface TerminateMessage { readonly type: 'terminate'; readonly raw: Buffer }
export interface CopyDataMessage { readonly type: 'copyData'; readonly raw: Buffer; readonly data: Buffer }
export interface CopyDoneMessage { readonly type: 'copyDone'; readonly raw: Buffer }
export interface CopyFailMessage { readonly type: 'copyFail'; readonly raw: Buffer; readonly message: string }
/**
 * 'p': PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share one type byte;
 * only the authentication exchange in progress says which it is, so the body stays raw and
 * readCleartextPassword / readSaslInitialResponse interpret it.
 */
export interface AuthResponseMessage { readonly type: 'authResponse'; readonly raw: Buffer; readonly body: Buffer }
/** Recognised so it can be refused or forwarded; its body is not interpreted. */
export interface FunctionCallMessage { readonly type: 'functionCall'; readonly raw: Buffer; readonly body: Buffer }

export type StartupPhaseMessage = StartupMessage | SslRequest | GssEncRequest | CancelRequest;
export type TypedMessage =
  | QueryMessage
  | ParseMessage
  | BindMessage
  | DescribeMessage
  | ExecuteMessage
  | CloseMessage
  | SyncMessage
  | FlushMessage
  | TerminateMessage
  | CopyDataMessage
  | CopyDoneMessage
  | CopyFailMessage
  | AuthResponseMessage
  | FunctionCallMessage;
export type FrontendMessage = StartupPhaseMessage | TypedMessage;


export function isFrontendCode(code: number): boolean {
  switch (code) {
    case FrontendCode.Query:
    case FrontendCode.Parse:
    case FrontendCode.Bind:
    case FrontendCode.Describe:
    case FrontendCode.Execute:
    case FrontendCode.Close:
    case FrontendCode.Sync:
    case FrontendCode.Flush:
    case FrontendCode.Terminate:
    case FrontendCode.CopyData:
    case FrontendCode.CopyDone:
    case FrontendCode.CopyFail:
    case FrontendCode.AuthResponse:
    case FrontendCode.FunctionCall:
      return true;
    default:
      return false;
  }
}

/** One reader for every message: decoding allocates only the values it returns. */
const reader = new BodyReader();

function target(what: string): 'S' | 'P' {
  const t = reader.byte(what);
  if (t === 0x53) return 'S';
  if (t === 0x50) return 'P';
  throw new Malformed(`${what} must be 'S' or 'P'`);
}

function int16List(n: number, what: string): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = reader.int16(what);
  return out;
}

function decodeTypedBody(code: number, raw: Buffer): TypedMessage {
  switch (code) {
    case FrontendCode.Query: {
      const sql = reader.cstring('query text');
      reader.done('Query');
      return { type: 'query', raw, sql };
    }
    case FrontendCode.Parse: {
      const name = reader.cstring('statement name');
      const sql = reader.cstring('query text');
      const n = reader.count('parameter type count');
      const paramTypes = new Array<number>(n);
      for (let i = 0; i < n; i++) paramTypes[i] = reader.uint32('parameter type');
      reader.done('Parse');
      return { type: 'parse', raw, name, sql, paramTypes };
    }
    case FrontendCode.Bind: {
      const portal = reader.cstring('portal name');
      const statement = reader.cstring('statement name');
      const paramFormats = int16List(reader.count('parameter format count'), 'parameter format');
      const n = reader.count('parameter count');
      const params = new Array<Buffer | null>(n);
      for (let i = 0; i < n; i++) {
        const len = reader.int32('parameter length');
        if (len < -1) throw new Malformed(`invalid parameter length ${len}`);
        params[i] = len === -1 ? null : reader.bytes(len, 'parameter value');
      }
      const resultFormats = int16List(reader.count('result format count'), 'result format');
      reader.done('Bind');
      return { type: 'bind', raw, portal, statement, paramFormats, params, resultFormats };
    }
    case FrontendCode.Describe: {
      const t = target('Describe target');
      const name = reader.cstring('Describe name');
      reader.done('Describe');
      return { type: 'describe', raw, target: t, name };
    }
    case FrontendCode.Execute: {
      const portal = reader.cstring('portal name');
      const maxRows = reader.int32('row limit');
      reader.done('Execute');
      return { type: 'execute', raw, portal, maxRows };
    }
    case FrontendCode.Close: {
      const t = target('Close target');
      const name = reader.cstring('Close name');
      reader.done('Close');
      return { type: 'close', raw, target: t, name };
    }
    case FrontendCode.Sync:
      reader.done('Sync');
      return { type: 'sync', raw };
    case FrontendCode.Flush:
      reader.done('Flush');
      return { type: 'flush', raw };
    case FrontendCode.Terminate:
      reader.done('Terminate');
      return { type: 'terminate', raw };
    case FrontendCode.CopyData:
      return { type: 'copyData', raw, data: reader.rest() };
    case FrontendCode.CopyDone:
      reader.done('CopyDone');
      return { type: 'copyDone', raw };
    case FrontendCode.CopyFail: {
      const message = reader.cstring('CopyFail message');
      reader.done('CopyFail');
      return { type: 'copyFail', raw, message };
    }
    case FrontendCode.AuthResponse:
      return { type: 'authResponse', raw, body: reader.rest() };
    case FrontendCode.FunctionCall:
      return { type: 'functionCall', raw, body: reader.rest() };
    default:
      // codec.ts checks the code from the header before the body arrives
      throw new Malformed(`unknown message type 0x${code.toString(16).padStart(2, '0')}`);
  }
}

/** Decodes one complete typed message: `raw` is its whole frame (type byte, length, body). */
export function decodeTypedMessage(raw: Buffer): TypedMessage | ProtocolError {
  reader.set(raw, 5, raw.length);
  try {
    return decodeTypedBody(raw[0]!, raw);
  } catch (err) {
    if (err instanceof Malformed) return new ProtocolError(`invalid frontend message: ${err.message}`);
    throw err;
  }
}

function decodeStartupParameters(): Record<string, string> {
  const parameters: Record<string, string> = Object.create(null);
  for (;;) {
    const name = reader.cstring('startup parameter name');
    if (name === '') break;
    parameters[name] = reader.cstring(`value of startup parameter "${name}"`);
  }
  reader.done('StartupMessage');
  return parameters;
}

/** Decodes one complete startup-phase packet: `raw` is its whole frame (length, code, body). */
export function decodeStartupPacket(raw: Buffer): StartupPhaseMessage | ProtocolError {
  reader.set(raw, 8, raw.length);
  const code = raw.readUInt32BE(4);
  try {
    switch (code) {
      case SSL_REQUEST_CODE:
        reader.done('SSLRequest');
        return { type: 'sslRequest', raw };
      case GSSENC_REQUEST_CODE:
        reader.done('GSSENCRequest');
        return { type: 'gssEncRequest', raw };
      case CANCEL_REQUEST_CODE: {
        const processId = reader.int32('process id');
        const keyLength = raw.length - 12;
        if (keyLength < 4 || keyLength > MAX_CANCEL_KEY_BYTES) throw new Malformed(`cancel key of ${keyLength} bytes`);
        return { type: 'cancelRequest', raw, processId, secretKey: reader.rest() };
      }
      default: {
        const majorVersion = code >>> 16;
        const minorVersion = code & 0xffff;
        if (majorVersion !== 3) {
          return new ProtocolError(`unsupported frontend protocol ${majorVersion}.${minorVersion}: server supports 3.0 to 3.x`);
        }
        return { type: 'startup', raw, majorVersion, minorVersion, parameters: decodeStartupParameters() };
      }
    }
  } catch (err) {
    if (err instanceof Malformed) return new ProtocolError(`invalid startup packet: ${err.message}`);
    throw err;
  }
}

/**
 * The body of a PasswordMessage: one NUL-terminated string and nothing after it, as
 * PostgreSQL requires ("invalid password packet size"). Empty passwords are the caller's to refuse.
 */
export function readCleartextPassword(msg: AuthResponseMessage): string | ProtocolError {
  reader.set(msg.body, 0, msg.body.length);
  try {
    const password = reader.cstring('password');
    reader.done('PasswordMessage');
    return password;
  } catch (err) {
    if (err instanceof Malformed) return new ProtocolError(`invalid password packet: ${err.message}`);
    throw err;
  }
}

export interface SaslInitialResponse {
  readonly mechanism: string;
  /** The client-first message; null when the client sent none (length -1). */
  readonly data: Buffer | null;
}

/** The body of a SASLInitialResponse. For the SASLResponse that follows, `msg.body` is the data itself. */
export function readSaslInitialResponse(msg: AuthResponseMessage): SaslInitialResponse | ProtocolError {
  reader.set(msg.body, 0, msg.body.length);
  try {
    const mechanism = reader.cstring('SASL mechanism');
    const len = reader.int32('SASL data length');
    if (len < -1) throw new Malformed(`invalid SASL data length ${len}`);
    const data = len === -1 ? null : reader.bytes(len, 'SASL data');
    reader.done('SASLInitialResponse');
    return { mechanism, data };
  } catch (err) {
    if (err instanceof Malformed) return new ProtocolError(`invalid SASLInitialResponse: ${err.message}`);
    throw err;
  }
}
