/**
 * Server → client messages the gateway itself generates (authentication, its own errors and
 * notices, answers to statements it handles). Messages are appended to one growable buffer
 * and flush() hands back everything queued as one Buffer, so a handshake is one socket write.
 */
import { BackendCode } from './message-codes.ts';

export type ReadyStatus = 'I' | 'T' | 'E';

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'LOG' | 'INFO';

export interface NoticeFields {
  readonly severity: Severity;
  /** SQLSTATE, five characters (e.g. '42501'). */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  /** 1-based character position in the query text the message refers to. */
  readonly position?: number;
}

export interface FieldDescription {
  readonly name: string;
  readonly typeOid: number;
  readonly tableOid?: number;
  readonly columnAttr?: number;
  readonly typeSize?: number;
  readonly typeModifier?: number;
  /** 0 text, 1 binary. */
  readonly format?: 0 | 1;
}


const enum AuthRequest {
  Ok = 0,
  CleartextPassword = 3,
  Sasl = 10,
  SaslContinue = 11,
  SaslFinal = 12,
}

const INITIAL_CAPACITY = 1024;
/** After flushing something this large, drop the buffer rather than keep it for a whole connection. */
const RETAIN_LIMIT = 1024 * 1024;

export class BackendWriter {
  private buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
  private length = 0;
  private messageStart = -1;

  /** Everything queued since the last flush, as a new Buffer the caller owns; the writer starts over. */
  flush(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    this.buf.copy(out, 0, 0, this.length);
    this.length = 0;
    if (this.buf.length > RETAIN_LIMIT) this.buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
    return out;
  }

  /** Answer to SSLRequest: 'S' then TLS, or 'N' and the client continues in plain text. */
  sslResponse(accept: boolean): this {
    this.ensure(1);
    this.buf[this.length++] = accept ? 0x53 : 0x4e;
    return this;
  }

  /** Answer to GSSENCRequest; the gateway has no GSSAPI, so it can only refuse. */
  gssEncRefused(): this {
    return this.sslResponse(false);
  }

  authenticationOk(): this {
    return this.begin(BackendCode.Authentication).int32(AuthRequest.Ok).end();
  }

  authenticationCleartextPassword(): this {
    return this.begin(BackendCode.Authentication).int32(AuthRequest.CleartextPassword).end();
  }

  authenticationSasl(mechanisms: readonly string[]): this {
    this.begin(BackendCode.Authentication).int32(AuthRequest.Sasl);
    for (const m of mechanisms) this.cstring(m);
    return this.cstring('').end();
  }

  authenticationSaslContinue(data: Buffer | string): this {
    return this.begin(BackendCode.Authentication).int32(AuthRequest.SaslContinue).bytes(data).end();
  }

  authenticationSaslFinal(data: Buffer | string): this {
    return this.begin(BackendCode.Authentication).int32(AuthRequest.SaslFinal).bytes(data).end();
  }

  /** Tells a client that asked for protocol 3.x (x > newestMinor) or `_pq_.` options what it gets instead. */
  negotiateProtocolVersion(newestMinor: number, unsupportedOptions: readonly string[]): this {
    this.begin(BackendCode.NegotiateProtocolVersion).int32((3 << 16) | newestMinor).int32(unsupportedOptions.length);
    for (const o of unsupportedOptions) this.cstring(o);
    return this.end();
  }

  parameterStatus(name: string, value: string): this {
    return this.begin(BackendCode.ParameterStatus).cstring(name).cstring(value).end();
  }

  /** `secretKey` is 4 bytes in protocol 3.0. */
  backendKeyData(processId: number, secretKey: Buffer): this {
    return this.begin(BackendCode.BackendKeyData).int32(processId).bytes(secretKey).end();
  }

  readyForQuery(status: ReadyStatus): this {
    this.begin(BackendCode.ReadyForQuery);
    this.ensure(1);
    this.buf[this.length++] = status.charCodeAt(0);
    return this.end();
  }

  errorResponse(fields: NoticeFields): this {
    return this.notice(BackendCode.ErrorResponse, fields);
  }

  noticeResponse(fields: NoticeFields): this {
    return this.notice(BackendCode.NoticeResponse, fields);
  }

  commandComplete(tag: string): this {
    return this.begin(BackendCode.CommandComplete).cstring(tag).end();
  }

  emptyQueryResponse(): this {
    return this.begin(BackendCode.EmptyQueryResponse).end();
  }

  rowDescription(fields: readonly FieldDescription[]): this {
    this.begin(BackendCode.RowDescription).int16(fields.length);
    for (const f of fields) {
      this.cstring(f.name)
        .int32(f.tableOid ?? 0)
        .int16(f.columnAttr ?? 0)
        .int32(f.typeOid)
        .int16(f.typeSize ?? -1)
        .int32(f.typeModifier ?? -1)
        .int16(f.format ?? 0);
    }
    return this.end();
  }

  /** One row; strings are sent as UTF-8 text, null as SQL NULL. */
  dataRow(values: readonly (string | Buffer | null)[]): this {
    this.begin(BackendCode.DataRow).int16(values.length);
    for (const v of values) {
      if (v === null) {
        this.int32(-1);
      } else {
        this.int32(typeof v === 'string' ? Buffer.byteLength(v) : v.length).bytes(v);
      }
    }
    return this.end();
  }

  private notice(code: BackendCode, f: NoticeFields): this {
    this.begin(code).field('S', f.severity).field('V', f.severity).field('C', f.code).field('M', f.message);
    if (f.detail !== undefined) this.field('D', f.detail);
    if (f.hint !== undefined) this.field('H', f.hint);
    if (f.position !== undefined) this.field('P', String(f.position));
    this.ensure(1);
    this.buf[this.length++] = 0;
    return this.end();
  }

  private field(code: string, value: string): this {
    this.ensure(1);
    this.buf[this.length++] = code.charCodeAt(0);
    return this.cstring(value);
  }

  private begin(code: BackendCode): this {
    this.ensure(5);
    this.messageStart = this.length;
    this.buf[this.length] = code;
    this.length += 5;
    return this;
  }

  private end(): this {
    this.buf.writeInt32BE(this.length - this.messageStart - 1, this.messageStart + 1);
    this.messageStart = -1;
    return this;
  }

  private ensure(n: number): void {
    if (this.buf.length - this.length >= n) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  private int16(v: number): this {
    this.ensure(2);
    this.length = this.buf.writeInt16BE(v, this.length);
    return this;
  }

  private int32(v: number): this {
    this.ensure(4);
    this.length = this.buf.writeInt32BE(v, this.length);
    return this;
  }

  /**
   * A NUL inside a value would end the string early and let the rest be read as further
   * fields (a denial message quoting client text could forge a SQLSTATE), so NULs become U+FFFD.
   */
  private cstring(s: string): this {
    const safe = s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
    const n = Buffer.byteLength(safe);
    this.ensure(n + 1);
    this.length += this.buf.write(safe, this.length, 'utf8');
    this.buf[this.length++] = 0;
    return this;
  }

  private bytes(data: Buffer | string): this {
    if (typeof data === 'string') {
      this.ensure(Buffer.byteLength(data));
      this.length += this.buf.write(data, this.length, 'utf8');
    } else {
      this.ensure(data.length);
      this.length += data.copy(this.buf, this.length);
    }
    return this;
  }
}
