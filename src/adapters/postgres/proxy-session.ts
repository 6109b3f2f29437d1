/**
 * One client connection after login, as sockets: client messages go through the pipeline before
 * they reach the upstream, upstream answers come back through the scanner. What each answer
 * belongs to is the tracker's business (extended-tracker.ts), what a masked answer becomes is the
 * result masker's (result-masker.ts); bytes are forwarded verbatim wherever nothing changes.
 *
 * A refused statement is never answered by the gateway alone: it sends the upstream a message
 * that is certain to fail in its place and shows the client its own error instead of that
 * failure. So the upstream's transaction fails exactly where PostgreSQL's would have, every
 * ReadyForQuery comes from the upstream, and the transaction state the client sees is real.
 */
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { serialize } from 'pg-protocol';
import { GatewayStopping, MaskingError, NotFound, ProtocolError, toGatewayError, UpstreamError, type GatewayError } from '../../errors.ts';
import type { Admission, ForwardResult, Pipeline, Session } from '../../pipeline.ts';
import type { DraftSource, HeldApproval, RequestLine } from '../../adapter-contract.ts';
import { classifySql } from '../../classify/sql.ts';
import type { ExecuteMessage, FrontendMessage, FrontendParser, QueryMessage, TypedMessage } from './codec.ts';
import { BackendWriter } from './backend-writer.ts';
import { BackendScanner, type FrameHandler } from './backend-scanner.ts';
import { noticeField, readCommandTag, type NoticeFieldMap, readNoticeFields, readParameterStatus, readRowDescription, tagRowCount } from './backend-frames.ts';
import { Expectation, ExtendedTracker, Kind } from './extended-tracker.ts';
import { BackendCode } from './message-codes.ts';
import { describeResult, maskFailureFrame, maskNotice, maskNoticeWith, maskRow, maskText, refusalFrame } from './result-masker.ts';
import { copyData, copyDone, copyOutResponse, copyOutStatements, expectCopyOut } from './copy-out.ts';
import { maskNotification, WITHHELD_PAYLOAD } from './notify-masker.ts';
import { executeDraft, factsWithNamed, queryDraft, wantsBinary } from './to-interaction.ts';
import { errorFields, heldNoticeFields } from './render.ts';
import { terminateMessage } from './frontend-writer.ts';

export interface ProxySessionOptions {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly parser: FrontendParser;
  /** Messages read during login that belong to the session. */
  readonly queued: readonly TypedMessage[];
  readonly session: Session;
  readonly pipeline: Pipeline;
  readonly logger: Logger;
  readonly onEnd: () => void;
  /** Sends the database a CancelRequest for this session's backend. */
  readonly cancelUpstream: () => void;
}

const SQL_LINE: RequestLine = { kind: 'sql.query', method: null, target: null };
/** No portal of a client can have this name: executing it fails, which is the point. */
const REFUSED_EXECUTE = serialize.execute({ portal: `gatehouse-refused-${randomBytes(8).toString('hex')}`, rows: 0 });
const REFUSED_QUERY = serialize.query('gatehouse_refused_statement');
const INBOX_HIGH_WATER = 256;
const writer = new BackendWriter();

export class ProxySession implements FrameHandler {
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly parser: FrontendParser;
  private readonly session: Session;
  private readonly pipeline: Pipeline;
  private readonly logger: Logger;
  private readonly scanner = new BackendScanner(this);
  /** Interactions whose answer was just scanned: reported after that answer is on its way to the client. */
  private readonly finished: Expectation[] = [];
  private readonly tracker = new ExtendedTracker((e) => this.finished.push(e));
  private readonly lookupStatement = (name: string) => this.tracker.statements.get(name);
  private readonly lookupCursor = (name: string) => this.tracker.cursors.get(name);
  private readonly inbox: TypedMessage[] = [];
  private inboxHead = 0;
  private busy = false;
  private toUpstream: Buffer[] = [];
  private toClient: Buffer[] = [];
  private ended = false;
  /** At ReadyForQuery 'I' with nothing queued from the client; a new client message clears it. */
  private idle = true;
  private draining = false;
  private readonly onEnded: (() => void)[] = [];
  private clientPaused = false;
  private upstreamPaused = false;
  private closed: Promise<void> = Promise.resolve();
  /** The database sent a FATAL (or PANIC): the connection closing next is its doing, already explained. */
  private upstreamEndedSession = false;
  /** The statement waiting for an approval (at most one: the messages behind it wait too). */
  private held: AbortController | null = null;
  /** The gateway's own notices, waiting for the end of the database's frame under way. */
  private toTell: Buffer[] = [];

  constructor(private readonly options: ProxySessionOptions) {
    this.client = options.client;
    this.upstream = options.upstream;
    this.parser = options.parser;
    this.session = options.session;
    this.pipeline = options.pipeline;
    this.logger = options.logger;
    for (const msg of options.queued) this.inbox.push(msg);
    this.onClientData = this.onClientData.bind(this);
    this.onUpstreamData = this.onUpstreamData.bind(this);
    this.onMessage = this.onMessage.bind(this);
    this.resumeClient = this.resumeClient.bind(this);
    this.resumeUpstream = this.resumeUpstream.bind(this);
  }

  start(): void {
    this.client.on('data', this.onClientData);
    this.client.on('end', () => this.end('client disconnected'));
    this.client.on('close', () => this.end('client disconnected'));
    this.client.on('error', (err) => this.end(`client connection error: ${err.message}`));
    this.upstream.on('data', this.onUpstreamData);
    this.upstream.on('close', () => this.upstreamClosed());
    this.upstream.on('error', (err) => this.logger.warn({ err, session: this.session.id }, 'upstream connection error'));
    this.session.ended.addEventListener('abort', () => this.fatal(toGatewayError(this.session.ended.reason)), { once: true });
    this.client.resume();
    this.upstream.resume();
    this.drain();
  }

  // ── client → upstream ────────────────────────────────────────────────────────

  private onClientData(chunk: Buffer): void {
    const error = this.parser.push(chunk, this.onMessage);
    if (error !== null) {
      this.fatal(error);
      return;
    }
    if (!this.busy) this.drain();
    // A client pipelining while a statement waits for the pipeline is held back, not buffered without end.
    else if (this.inbox.length - this.inboxHead > INBOX_HIGH_WATER) this.pauseClient();
  }

  /** After login the parser is in its typed phase: only typed messages arrive here. */
  private onMessage(msg: FrontendMessage): void {
    this.idle = false;
    this.inbox.push(msg as TypedMessage);
  }

  /** Handles queued messages in order; a statement waiting for the pipeline holds back the ones after it. */
  private drain(): void {
    while (!this.ended && this.inboxHead < this.inbox.length) {
      const msg = this.inbox[this.inboxHead++]!;
      const waiting = this.handle(msg);
      if (waiting !== null) {
        this.busy = true;
        if (this.inbox.length - this.inboxHead > INBOX_HIGH_WATER) this.pauseClient();
        waiting.then(
          () => {
            this.busy = false;
            this.drain();
          },
          (err: unknown) => this.fatal(toGatewayError(err)),
        );
        return;
      }
    }
    this.inbox.length = 0;
    this.inboxHead = 0;
    this.flushUpstream();
    if (this.clientPaused && !this.upstream.writableNeedDrain) this.resumeClient();
  }

  private handle(msg: TypedMessage): Promise<void> | null {
    const tracker = this.tracker;
    switch (msg.type) {
      case 'query':
        return this.onQuery(msg);
      case 'execute':
        return this.onExecute(msg);
      case 'parse':
        tracker.parse(msg.name, { sql: msg.sql, facts: classifySql(msg.sql), paramTypes: msg.paramTypes, columns: null });
        break;
      case 'bind':
        tracker.bind(msg);
        break;
      case 'describe':
        tracker.describe(msg.target, msg.name);
        break;
      case 'close':
        tracker.close(msg.target, msg.name);
        break;
      case 'sync':
        tracker.expect(new Expectation(Kind.Sync));
        break;
      case 'flush':
        this.forward(msg.raw);
        this.flushUpstream();
        return null;
      case 'copyData':
      case 'copyDone':
      case 'copyFail':
        break;
      case 'terminate':
        this.end('client terminated the session');
        return null;
      case 'functionCall':
        // a fastpath call names a function by OID with opaque arguments: nothing to classify
        return this.runStatement(Kind.RefusedQuery, () => {
          throw new ProtocolError('the fastpath function-call protocol is not supported through the gateway; use SELECT f(…)');
        }, unreachable);
      case 'authResponse':
        this.fatal(new ProtocolError('unexpected authentication message after login'));
        return null;
    }
    this.forward(msg.raw);
    return null;
  }

  private onQuery(msg: QueryMessage): Promise<void> {
    const parsed = classifySql(msg.sql);
    const facts = factsWithNamed(parsed, this.lookupStatement, this.lookupCursor);
    this.tracker.simpleQuery();
    return this.runStatement(Kind.RefusedQuery, queryDraft(msg.sql, facts, msg.raw.length), (admission) => {
      if (admission.masked && (facts.flags['copy_to_program'] || facts.flags['copy_to_file'])) {
        throw new MaskingError('COPY … TO a program or file cannot be masked; the statement was not sent (use COPY … TO STDOUT)');
      }
      // COPY … TO STDOUT is masked record by record; the text sent may have HEADER added (copy-statement.ts)
      const copy = admission.masked && facts.flags['copy_to_stdout'] ? copyOutStatements(msg.sql) : null;
      this.tracker.definePrepared(parsed, msg.sql, facts);
      const e = new Expectation(Kind.Query);
      e.admission = admission;
      e.masked = admission.masked;
      if (copy !== null) expectCopyOut(e, copy.plans);
      return this.send(e, copy?.raw ?? msg.raw);
    });
  }

  private onExecute(msg: ExecuteMessage): Promise<void> {
    const portal = this.tracker.portals.get(msg.portal);
    if (portal === undefined) {
      return this.runStatement(Kind.RefusedExecute, () => {
        throw new NotFound(`portal "${msg.portal}" is unknown to the gateway; it was not executed`);
      }, unreachable);
    }
    const parsed = portal.statement.facts;
    const facts = factsWithNamed(parsed, this.lookupStatement, this.lookupCursor);
    return this.runStatement(Kind.RefusedExecute, executeDraft(portal, facts, portal.bindBytes + msg.raw.length), (admission) => {
      if (admission.masked && wantsBinary(portal.resultFormats)) {
        throw new MaskingError('a masking profile applies and the client asked for binary results, which cannot be masked; request text format');
      }
      this.tracker.definePrepared(parsed, portal.statement.sql, facts);
      const e = new Expectation(Kind.Execute);
      e.admission = admission;
      e.masked = admission.masked;
      e.portal = portal;
      e.columns = portal.columns ?? portal.statement.columns;
      return this.send(e, msg.raw);
    });
  }

  /**
   * Runs one statement through the pipeline. Resolves once it was sent or refused, so the messages
   * behind it may go on; the runner completes its record when the database's answer reports it.
   * A statement a rule holds waits here until its approval is decided or expires, the messages
   * behind it waiting too; its client is told the approval's id at once, in a NoticeResponse.
   */
  private runStatement(refusal: Kind.RefusedQuery | Kind.RefusedExecute, draft: DraftSource, send: (admission: Admission) => Expectation): Promise<void> {
    return new Promise<void>((resolve) => {
      let sent = false;
      const hold = new AbortController();
      const forward = (admission: Admission): Promise<ForwardResult> => {
        if (this.held === hold) this.held = null;
        // The session ended while the statement was being admitted: nothing is sent, and its record says so.
        if (this.ended) {
          resolve();
          return Promise.resolve({ responseStatus: null, responseBody: null, bytesOut: 0, interrupted: true });
        }
        const e = send(admission);
        sent = true;
        // Cancelled as its approval was being used: the database is told, as it would be of a statement it had just started.
        if (hold.signal.aborted) setImmediate(this.options.cancelUpstream);
        resolve();
        return new Promise<ForwardResult>((done) => (e.done = done));
      };
      const onCreated = (approval: HeldApproval) => {
        this.held = hold;
        // What came before it is decided: it goes now, not after a wait that may last until the approval expires.
        this.flushUpstream();
        this.tell(writer.noticeResponse(heldNoticeFields(approval)).flush());
      };
      this.pipeline.run(this.session, draft, forward, { slot: 'session', line: SQL_LINE, signal: hold.signal, hold: { until: 'expiry', onCreated } }).then(undefined, (err: unknown) => {
        if (this.held === hold) this.held = null;
        if (sent) return;
        this.refuse(refusal, toGatewayError(err));
        resolve();
      });
    });
  }

  /**
   * A CancelRequest for this session: withdraws the statement waiting for approval, which then
   * never reaches the database. Returns false when nothing waits, so the database gets the cancel.
   */
  cancelHeld(): boolean {
    const held = this.held;
    if (held === null) return false;
    this.held = null;
    held.abort();
    return true;
  }

  /** Sends the client a message of the gateway's own between two of the database's. */
  private tell(frame: Buffer): void {
    if (this.ended || !this.client.writable) return;
    if (this.scanner.midFrame) this.toTell.push(frame);
    else this.client.write(frame);
  }

  /** Sends the upstream a stand-in that fails, so its transaction state follows; the client sees `error`. */
  private refuse(kind: Kind.RefusedQuery | Kind.RefusedExecute, error: GatewayError): void {
    const e = new Expectation(kind);
    e.refusal = error;
    this.send(e, kind === Kind.RefusedQuery ? REFUSED_QUERY : REFUSED_EXECUTE);
  }

  private send(e: Expectation, raw: Buffer): Expectation {
    this.tracker.expect(e);
    this.forward(raw);
    return e;
  }

  private forward(raw: Buffer): void {
    const out = this.toUpstream;
    const last = out[out.length - 1];
    // consecutive messages from one chunk are one slice: one write instead of many
    if (last !== undefined && last.buffer === raw.buffer && last.byteOffset + last.length === raw.byteOffset) {
      out[out.length - 1] = Buffer.from(raw.buffer, last.byteOffset, last.length + raw.length);
    } else {
      out.push(raw);
    }
  }

  private flushUpstream(): void {
    const out = this.toUpstream;
    if (out.length === 0 || this.ended) return;
    this.toUpstream = [];
    writeAll(this.upstream, out);
    if (this.upstream.writableNeedDrain) this.pauseClient();
  }

  private pauseClient(): void {
    if (this.clientPaused) return;
    this.clientPaused = true;
    this.client.pause();
    if (this.upstream.writableNeedDrain) this.upstream.once('drain', this.resumeClient);
  }

  private resumeClient(): void {
    if (!this.clientPaused || this.busy || this.ended) return;
    this.clientPaused = false;
    this.client.resume();
  }

  // ── upstream → client ────────────────────────────────────────────────────────

  private onUpstreamData(chunk: Buffer): void {
    const out = this.toClient;
    const error = this.scanner.push(chunk, out);
    if (this.toTell.length > 0 && !this.scanner.midFrame) out.push(...this.toTell.splice(0));
    if (out.length > 0 && !this.ended) {
      this.toClient = [];
      writeAll(this.client, out);
      if (this.client.writableNeedDrain && !this.upstreamPaused) {
        this.upstreamPaused = true;
        this.upstream.pause();
        this.client.once('drain', this.resumeUpstream);
      }
    }
    this.reportFinished();
    if (error !== null) {
      this.logger.error({ err: error, session: this.session.id }, 'invalid data from the upstream database');
      this.fatal(new UpstreamError('upstream_unreachable', 'the database sent data the gateway cannot read; the session was closed'));
    }
  }

  private reportFinished(): void {
    for (const e of this.finished) e.report();
    this.finished.length = 0;
  }

  private resumeUpstream(): void {
    this.upstreamPaused = false;
    if (!this.ended) this.upstream.resume();
  }

  wantsWhole(type: number): boolean {
    switch (type) {
      case BackendCode.DataRow:
        return this.tracker.front()?.masked === true;
      case BackendCode.NoticeResponse: {
        const front = this.tracker.front();
        return front === undefined ? this.pipeline.sessionTextMasker(this.session) !== null : front.masked;
      }
      case BackendCode.CopyData:
        return this.tracker.front()?.masked === true;
      default:
        return true;
    }
  }

  onHeader(type: number, frameLength: number): void {
    const e = this.tracker.front();
    if (e === undefined) return;
    e.bytesOut += frameLength;
    if (type === BackendCode.DataRow) e.rowsSeen++;
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    const tracker = this.tracker;
    const e = tracker.front();
    switch (type) {
      case BackendCode.DataRow:
        return e !== undefined && e.masked ? maskRow(e, buf, start, end) : undefined;
      case BackendCode.CopyData:
        return e?.masked ? copyData(e, buf, start, end) : undefined;
      case BackendCode.CopyDone:
        return e?.masked ? copyDone(e) : undefined;
      case BackendCode.NotificationResponse:
        return maskNotification(this.pipeline.sessionTextMasker(this.session), buf, start, end);
      case BackendCode.ParseComplete:
        tracker.parseComplete();
        return undefined;
      case BackendCode.BindComplete:
        tracker.bindComplete();
        return undefined;
      case BackendCode.CloseComplete:
        tracker.closeComplete();
        return undefined;
      case BackendCode.NoData:
        tracker.noData();
        return undefined;
      case BackendCode.RowDescription: {
        const head = tracker.rowDescription(() => readRowDescription(buf, start, end));
        return head === undefined ? undefined : describeResult(head, buf, start, end);
      }
      case BackendCode.CommandComplete:
        if (e === undefined || (e.kind !== Kind.Execute && e.kind !== Kind.Query)) return undefined;
        e.command = readCommandTag(buf, start, end);
        e.rows += tagRowCount(e.command);
        return this.resultEnd(e);
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended:
        if (e?.kind !== Kind.Execute) return undefined;
        e.rows = e.rowsSeen;
        return this.resultEnd(e);
      case BackendCode.ErrorResponse: {
        const notice = readNoticeFields(buf, start, end);
        // 'V' is the severity PostgreSQL never translates; 'S' may be in the server's language.
        const severity = noticeField(notice, 'V') ?? noticeField(notice, 'S');
        if (severity === 'FATAL' || severity === 'PANIC') this.upstreamEndedSession = true;
        return e === undefined ? this.maskOutsideStatements(BackendCode.ErrorResponse, buf, start, end) : this.errorResponse(e, notice, buf, start, end);
      }
      case BackendCode.NoticeResponse:
        if (e === undefined) return this.maskOutsideStatements(BackendCode.NoticeResponse, buf, start, end);
        return e.masked ? maskNotice(e, BackendCode.NoticeResponse, buf, start, end) : undefined;
      case BackendCode.CopyOutResponse:
        return e === undefined ? undefined : copyOutResponse(e, buf, start, end);
      case BackendCode.ParameterStatus:
        return this.parameterStatus(buf, start, end);
      case BackendCode.ReadyForQuery: {
        const status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
        tracker.readyForQuery(status);
        // Idle outside a transaction, with nothing more sent by the client: a draining stop may end it.
        this.idle = status === 'I' && this.inboxHead >= this.inbox.length;
        // After this ReadyForQuery has gone out to the client, not before.
        if (this.idle && this.draining) setImmediate(() => this.endIfDrained());
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /**
   * A notice or error that belongs to no statement (a server message between statements, a
   * notice raised after a result): masked under every profile a rule for this connection names.
   */
  private maskOutsideStatements(type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, buf: Buffer, start: number, end: number): Buffer | undefined {
    const mask = this.pipeline.sessionTextMasker(this.session);
    if (mask === null) return undefined;
    return maskNoticeWith((text) => {
      try {
        return mask(text);
      } catch {
        return WITHHELD_PAYLOAD;
      }
    }, type, buf, start, end);
  }

  /** A result's end: a withheld result ends with its masking error instead. */
  private resultEnd(e: Expectation): Buffer | undefined {
    const replacement = e.maskFailure ? maskFailureFrame(e) : undefined;
    this.tracker.resultEnd(e);
    return replacement;
  }

  private errorResponse(e: Expectation, notice: NoticeFieldMap, buf: Buffer, start: number, end: number): Buffer | undefined {
    let shown: Buffer | undefined;
    if (e.refusal !== null) {
      shown = refusalFrame(e);
    } else {
      const message = noticeField(notice, 'M') ?? '';
      e.error = { code: noticeField(notice, 'C') ?? 'XX000', message: e.masked ? maskText(e, message) : message };
      if (e.masked) shown = maskNotice(e, BackendCode.ErrorResponse, buf, start, end);
    }
    this.tracker.error(e);
    return shown;
  }

  private parameterStatus(buf: Buffer, start: number, end: number): undefined {
    const [name, value] = readParameterStatus(buf, start, end);
    if (name === 'client_encoding' && value.toUpperCase() !== 'UTF8') {
      // classification and masking read text as UTF-8; another encoding would let bytes mean something else upstream
      setImmediate(() => this.fatal(new ProtocolError(`client_encoding ${value} is not supported through the gateway; only UTF8`)));
    }
    return undefined;
  }

  private readonly logFailure = (err: unknown): void => {
    this.logger.error({ err, session: this.session.id }, 'could not close a session record');
  };

  // ── ending ───────────────────────────────────────────────────────────────────

  /**
   * A stop's drain: the session goes on until it is idle outside a transaction (a transaction
   * under way is never cut by the drain), then ends with gateway_stopping so the client reconnects
   * elsewhere. Resolves once the session is recorded as ended; shutdown() still cuts it at the deadline.
   */
  endWhenIdle(): Promise<void> {
    this.draining = true;
    this.endIfDrained();
    // `closed` is set when the session ends; until then, wait for that.
    return this.ended ? this.closed : new Promise<void>((resolve) => this.onEnded.push(() => void this.closed.then(resolve)));
  }

  private endIfDrained(): void {
    if (this.draining && this.idle && !this.busy && this.inboxHead >= this.inbox.length) {
      this.fatal(new GatewayStopping('the gateway replica is stopping; reconnect and the load balancer sends you to another'));
    }
  }

  /** Gateway shutdown: the client is told why its session ends; resolves once the session is recorded as ended. */
  shutdown(): Promise<void> {
    this.fatal(new UpstreamError('upstream_unreachable', 'the gateway is shutting down'));
    return this.closed;
  }

  /** Ends the session with a FATAL the client can read (when the stream is between messages). */
  private fatal(error: GatewayError): void {
    if (this.ended) return;
    if (!this.scanner.midFrame && this.client.writable) this.client.write(writer.errorResponse(errorFields(error, 'FATAL')).flush());
    this.end(error.message);
  }

  private upstreamClosed(): void {
    if (this.ended) return;
    // The database said why in its own FATAL, which the client has: a second error would only confuse it.
    if (this.upstreamEndedSession) return this.end('the database ended the session');
    this.fatal(new UpstreamError('upstream_unreachable', 'the connection to the database was lost'));
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    // A statement still waiting for approval is withdrawn: its client is gone and it can never run.
    this.held?.abort();
    this.reportFinished();
    // The database may already have answered with an error (its ReadyForQuery had not arrived): that outcome is known.
    for (const e of this.tracker.drain()) e.report(true);
    if (this.upstream.writable) this.upstream.end(terminateMessage());
    this.upstream.destroySoon();
    this.client.end();
    this.client.destroySoon();
    this.options.onEnd();
    this.closed = this.session.close(reason).catch(this.logFailure);
    for (const notify of this.onEnded.splice(0)) notify();
  }
}

/** Never called: the draft of a statement that cannot run throws before anything is admitted. */
function unreachable(): never {
  throw new Error('a refused statement was admitted');
}

/** One syscall for a batch: corked writes go out as one writev. */
function writeAll(socket: Socket, out: readonly Buffer[]): void {
  if (out.length === 1) {
    socket.write(out[0]!);
    return;
  }
  socket.cork();
  for (const b of out) socket.write(b);
  socket.uncork();
}
