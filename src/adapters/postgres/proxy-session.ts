/**
 * One client connection after login: every statement goes through the pipeline before it
 * reaches the upstream, every answer comes back through the scanner (and the masker when a
 * profile applies). Bytes are forwarded verbatim wherever nothing changes.
 *
 * Requests and answers are matched by order: each message that draws an answer pushes an
 * Expectation, and the upstream answers them first in, first out. After an error in the
 * extended protocol the server skips everything up to Sync, and so do the expectations.
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
import type { SqlFacts } from '../../interaction.ts';
import { GatewayError, MaskingError, NotFound, ProtocolError, toGatewayError, UpstreamError } from '../../errors.ts';
import type { Admission, ForwardResult, Pipeline, Session } from '../../pipeline.ts';
import type { DraftSource, RequestLine } from '../../adapter-contract.ts';
import { classifySql, sqlStatementNames } from '../../classify/sql.ts';
import type { FrontendMessage, FrontendParser, TypedMessage, BindMessage, ExecuteMessage, ParseMessage, QueryMessage } from './codec.ts';
import { BackendWriter } from './backend-writer.ts';
import { BackendScanner, type FrameHandler } from './backend-scanner.ts';
import {
  readCommandTag,
  readDataRow,
  readNoticeFields,
  readParameterStatus,
  readRowDescription,
  noticeField,
  tagRowCount,
  writeNoticeFrame,
  type Columns,
} from './backend-frames.ts';
import { NameTable, type Definition } from './name-table.ts';
import {
  describeParams,
  executeDraft,
  factsWithNamed,
  mergeStatements,
  queryDraft,
  wantsBinary,
  type PortalEntry,
  type StatementEntry,
} from './to-interaction.ts';
import { errorFields } from './render.ts';
import { terminateMessage } from './frontend-writer.ts';

const enum Kind {
  Parse,
  Bind,
  Describe,
  Execute,
  Close,
  Sync,
  Query,
  /** Stands in for a refused Execute: an Execute of a portal that cannot exist. */
  RefusedExecute,
  /** Stands in for a refused Query or FunctionCall: a Query that cannot parse. */
  RefusedQuery,
}

const enum Code {
  ParseComplete = 0x31,
  BindComplete = 0x32,
  CloseComplete = 0x33,
  CommandComplete = 0x43,
  DataRow = 0x44,
  ErrorResponse = 0x45,
  CopyInResponse = 0x47,
  CopyOutResponse = 0x48,
  EmptyQuery = 0x49,
  Notice = 0x4e,
  ParameterStatus = 0x53,
  RowDescription = 0x54,
  ReadyForQuery = 0x5a,
  CopyDone = 0x63,
  CopyData = 0x64,
  NoData = 0x6e,
  PortalSuspended = 0x73,
}

class Expectation {
  statementDef: Definition<StatementEntry> | null = null;
  portalDef: Definition<PortalEntry> | null = null;
  statement: StatementEntry | null = null;
  portal: PortalEntry | null = null;
  admission: Admission | null = null;
  /** Shown to the client in place of the upstream's error for a refused message. */
  refusal: GatewayError | null = null;
  columns: Columns | null = null;
  masked = false;
  /** Set when rows cannot be masked: they are withheld and this error replaces the command's result. */
  maskFailure: GatewayError | null = null;
  command: string | null = null;
  rows = 0;
  rowsSeen = 0;
  bytesOut = 0;
  error: { code: string; message: string } | null = null;
  /** Hands the runner this statement's result once the database has answered it. */
  done: ((result: ForwardResult) => void) | null = null;
  constructor(readonly kind: Kind) {}
}

const SQL_LINE: RequestLine = { kind: 'sql.query', method: null, target: null };

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
}

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
  private readonly statements = new NameTable<StatementEntry>(mergeStatements);
  private readonly portals = new NameTable<PortalEntry>((_older, newer) => newer);
  /** SQL cursors (DECLARE): FETCH is classified with what the cursor reads. Never settled, so merged on reuse. */
  private readonly cursors = new NameTable<StatementEntry>(mergeStatements);
  private readonly lookupStatement = (name: string) => this.statements.get(name);
  private readonly lookupCursor = (name: string) => this.cursors.get(name);
  private readonly expected: Expectation[] = [];
  private expectedHead = 0;
  private readonly inbox: TypedMessage[] = [];
  private inboxHead = 0;
  private busy = false;
  private toUpstream: Buffer[] = [];
  private toClient: Buffer[] = [];
  private ended = false;
  private clientPaused = false;
  private upstreamPaused = false;
  private closed: Promise<void> = Promise.resolve();
  /** Interactions whose answer was just scanned: recorded after that answer is on its way to the client. */
  private readonly finished: Expectation[] = [];

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
  }

  /** After login the parser is in its typed phase: only typed messages arrive here. */
  private onMessage(msg: FrontendMessage): void {
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
    switch (msg.type) {
      case 'query':
        return this.onQuery(msg);
      case 'execute':
        return this.onExecute(msg);
      case 'parse':
        this.onParse(msg);
        return null;
      case 'bind':
        this.onBind(msg);
        return null;
      case 'describe': {
        const e = new Expectation(Kind.Describe);
        if (msg.target === 'S') e.statement = this.statements.get(msg.name) ?? null;
        else e.portal = this.portals.get(msg.name) ?? null;
        return this.send(e, msg.raw);
      }
      case 'close':
        if (msg.target === 'S') this.statements.delete(msg.name);
        else this.portals.delete(msg.name);
        return this.send(new Expectation(Kind.Close), msg.raw);
      case 'sync':
        return this.send(new Expectation(Kind.Sync), msg.raw);
      case 'flush':
        this.forward(msg.raw);
        this.flushUpstream();
        return null;
      case 'copyData':
      case 'copyDone':
      case 'copyFail':
        this.forward(msg.raw);
        return null;
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
  }

  private send(e: Expectation, raw: Buffer): null {
    this.expected.push(e);
    this.forward(raw);
    return null;
  }

  private onQuery(msg: QueryMessage): Promise<void> {
    const parsed = classifySql(msg.sql);
    const facts = factsWithNamed(parsed, this.lookupStatement, this.lookupCursor);
    // a simple Query replaces the unnamed statement and portal, whatever it runs
    this.statements.delete('');
    this.portals.delete('');
    return this.runStatement(Kind.RefusedQuery, queryDraft(msg.sql, facts, msg.raw.length), (admission) => {
      if (admission.masked && (facts.flags['copy_to_stdout'] || facts.flags['copy_to_program'] || facts.flags['copy_to_file'])) {
        throw new MaskingError('COPY … TO output cannot be masked row by row; the statement was not sent (use SELECT)');
      }
      this.definePrepared(parsed, msg.sql, facts);
      const e = new Expectation(Kind.Query);
      e.admission = admission;
      e.masked = admission.masked;
      this.send(e, msg.raw);
      return e;
    });
  }

  /**
   * Runs one statement through the pipeline. Resolves once it was sent or refused, so the messages
   * behind it may go on; the runner records it when the database's answer completes its expectation.
   */
  private runStatement(refusal: Kind.RefusedQuery | Kind.RefusedExecute, draft: DraftSource, send: (admission: Admission) => Expectation): Promise<void> {
    return new Promise<void>((resolve) => {
      let sent = false;
      const forward = (admission: Admission): Promise<ForwardResult> => {
        const e = send(admission);
        sent = true;
        resolve();
        return new Promise<ForwardResult>((done) => (e.done = done));
      };
      this.pipeline.run(this.session, draft, forward, { slot: 'session', line: SQL_LINE }).then(undefined, (err: unknown) => {
        if (sent) return;
        this.refuse(refusal, err);
        resolve();
      });
    });
  }

  /**
   * SQL-level PREPARE shares the protocol's namespace and is not undone by a rollback; whether a
   * DECLARE took effect is not known either: both are never settled, so a reused name stays merged.
   */
  private definePrepared(parsed: SqlFacts, sql: string, facts: SqlFacts): void {
    const names = sqlStatementNames(parsed);
    for (const name of names.prepared) this.statements.define(name, { sql, facts, columns: null });
    for (const name of names.declared) this.cursors.define(name, { sql, facts, columns: null });
  }

  private onParse(msg: ParseMessage): void {
    const e = new Expectation(Kind.Parse);
    e.statementDef = this.statements.define(msg.name, { sql: msg.sql, facts: classifySql(msg.sql), columns: null });
    this.send(e, msg.raw);
  }

  private onBind(msg: BindMessage): void {
    const statement = this.statements.get(msg.statement);
    const e = new Expectation(Kind.Bind);
    if (statement === undefined) {
      // the upstream will refuse it; if it did not, an Execute of this portal is refused here
      this.portals.delete(msg.portal);
    } else {
      e.portalDef = this.portals.define(msg.portal, {
        statement,
        params: describeParams(msg.params, msg.paramFormats),
        resultFormats: msg.resultFormats,
        columns: null,
        bindBytes: msg.raw.length,
      });
    }
    this.send(e, msg.raw);
  }

  private onExecute(msg: ExecuteMessage): Promise<void> {
    const portal = this.portals.get(msg.portal);
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
      this.definePrepared(parsed, portal.statement.sql, facts);
      const e = new Expectation(Kind.Execute);
      e.admission = admission;
      e.masked = admission.masked;
      e.portal = portal;
      e.columns = portal.columns ?? portal.statement.columns;
      this.send(e, msg.raw);
      return e;
    });
  }

  /** Sends the upstream a stand-in that fails, so its transaction state follows; the client sees `error`. */
  private refuse(kind: Kind.RefusedQuery | Kind.RefusedExecute, err: unknown): null {
    const e = new Expectation(kind);
    e.refusal = toGatewayError(err);
    return this.send(e, kind === Kind.RefusedQuery ? REFUSED_QUERY : REFUSED_EXECUTE);
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
    if (out.length > 0 && !this.ended) {
      this.toClient = [];
      writeAll(this.client, out);
      if (this.client.writableNeedDrain && !this.upstreamPaused) {
        this.upstreamPaused = true;
        this.upstream.pause();
        this.client.once('drain', this.resumeUpstream);
      }
    }
    for (const e of this.finished) this.record(e);
    this.finished.length = 0;
    if (error !== null) {
      this.logger.error({ err: error, session: this.session.id }, 'invalid data from the upstream database');
      this.fatal(new UpstreamError('upstream_unreachable', 'the database sent data the gateway cannot read; the session was closed'));
    }
  }

  private resumeUpstream(): void {
    this.upstreamPaused = false;
    if (!this.ended) this.upstream.resume();
  }

  private front(): Expectation | undefined {
    return this.expected[this.expectedHead];
  }

  private shift(): void {
    this.expected[this.expectedHead++] = undefined as unknown as Expectation;
    if (this.expectedHead === this.expected.length) {
      this.expected.length = 0;
      this.expectedHead = 0;
    } else if (this.expectedHead > 1024) {
      this.expected.splice(0, this.expectedHead);
      this.expectedHead = 0;
    }
  }

  wantsWhole(type: number): boolean {
    switch (type) {
      case Code.DataRow:
      case Code.Notice:
        return this.front()?.masked === true;
      case Code.CopyData:
        return this.front()?.maskFailure != null;
      default:
        return true;
    }
  }

  onHeader(type: number, frameLength: number): void {
    const e = this.front();
    if (e === undefined) return;
    e.bytesOut += frameLength;
    if (type === Code.DataRow) e.rowsSeen++;
  }

  onFrame(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    const e = this.front();
    switch (type) {
      case Code.DataRow:
        return e !== undefined && e.masked ? this.maskRow(e, buf, start, end) : undefined;
      case Code.CopyData:
      case Code.CopyDone:
        return e?.maskFailure ? null : undefined;
      case Code.ParseComplete:
        if (e?.kind === Kind.Parse) {
          this.statements.settle(e.statementDef!, 'ok');
          this.shift();
        }
        return undefined;
      case Code.BindComplete:
        if (e?.kind === Kind.Bind) {
          if (e.portalDef) this.portals.settle(e.portalDef, 'ok');
          this.shift();
        }
        return undefined;
      case Code.CloseComplete:
        if (e?.kind === Kind.Close) this.shift();
        return undefined;
      case Code.RowDescription:
        return this.rowDescription(e, buf, start, end);
      case Code.NoData:
        if (e?.kind === Kind.Describe) this.shift();
        return undefined;
      case Code.CommandComplete:
        return this.commandComplete(e, buf, start, end);
      case Code.EmptyQuery:
      case Code.PortalSuspended:
        if (e?.kind === Kind.Execute) {
          if (e.maskFailure) return this.finishWithMaskFailure(e);
          e.rows = e.rowsSeen;
          this.complete(e);
          this.shift();
        }
        return undefined;
      case Code.ErrorResponse:
        return this.errorResponse(e, buf, start, end);
      case Code.Notice:
        return e?.masked ? this.maskNotice(e, 0x4e, buf, start, end) : undefined;
      case Code.CopyOutResponse:
        if (e?.masked && !e.maskFailure) {
          e.maskFailure = new MaskingError('COPY output cannot be masked; it was withheld');
          return null;
        }
        return undefined;
      case Code.ParameterStatus:
        return this.parameterStatus(buf, start, end);
      case Code.ReadyForQuery:
        this.readyForQuery();
        return undefined;
      default:
        return undefined;
    }
  }

  private rowDescription(e: Expectation | undefined, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    if (e === undefined) return undefined;
    if (e.kind === Kind.Describe) {
      const columns = readRowDescription(buf, start, end);
      if (e.statement) e.statement.columns = columns;
      if (e.portal) e.portal.columns = columns;
      this.shift();
      return undefined;
    }
    if (!e.masked) return undefined;
    e.columns = readRowDescription(buf, start, end);
    if (e.columns.formats.some((f) => f === 1)) {
      e.maskFailure = new MaskingError('a masking profile applies and the result is in binary format, which cannot be masked; it was withheld');
      return null;
    }
    return undefined;
  }

  private maskRow(e: Expectation, buf: Buffer, start: number, end: number): Buffer | null {
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

  private maskNotice(e: Expectation, type: 0x45 | 0x4e, buf: Buffer, start: number, end: number): Buffer {
    const notice = readNoticeFields(buf, start, end);
    const masked = notice.fields.map(([code, value]) => [code, code === 'M' || code === 'D' || code === 'H' || code === 'W' ? this.maskText(e, value) : value] as const);
    return writeNoticeFrame(type, { fields: masked });
  }

  private maskText(e: Expectation, text: string): string {
    try {
      return e.admission?.maskText(text) ?? text;
    } catch {
      return '[withheld: masking failed]';
    }
  }

  /** The withheld result's end: the client sees the masking error in its place. */
  private finishWithMaskFailure(e: Expectation): Buffer {
    const failure = e.maskFailure!;
    e.error = { code: failure.code, message: failure.message };
    e.maskFailure = null;
    if (e.kind === Kind.Execute) {
      this.complete(e);
      this.shift();
    }
    return writer.errorResponse(errorFields(failure)).flush();
  }

  private commandComplete(e: Expectation | undefined, buf: Buffer, start: number, end: number): Buffer | undefined {
    if (e === undefined || (e.kind !== Kind.Execute && e.kind !== Kind.Query)) return undefined;
    const tag = readCommandTag(buf, start, end);
    e.command = tag;
    e.rows += tagRowCount(tag);
    if (e.maskFailure) return this.finishWithMaskFailure(e);
    if (e.kind === Kind.Execute) {
      this.complete(e);
      this.shift();
    }
    return undefined;
  }

  private errorResponse(e: Expectation | undefined, buf: Buffer, start: number, end: number): Buffer | undefined {
    if (e === undefined) return undefined;
    if (e.refusal !== null) {
      const shown = writer.errorResponse(errorFields(e.refusal)).flush();
      if (e.kind === Kind.RefusedExecute) {
        this.shift();
        this.skipToSync();
      }
      return shown;
    }
    const notice = readNoticeFields(buf, start, end);
    const message = noticeField(notice, 'M') ?? '';
    e.error = { code: noticeField(notice, 'C') ?? 'XX000', message: e.masked ? this.maskText(e, message) : message };
    const replacement = e.masked ? this.maskNotice(e, 0x45, buf, start, end) : undefined;
    switch (e.kind) {
      case Kind.Query:
      case Kind.Sync:
      case Kind.RefusedQuery:
        // ReadyForQuery follows and ends these
        return replacement;
      default:
        this.settle(e, 'failed');
        this.shift();
        this.skipToSync();
        return replacement;
    }
  }

  /**
   * After an extended-protocol error the upstream ignores everything up to Sync: so do the
   * expectations. At ReadyForQuery, only extended messages sent after that error are still waiting.
   */
  private skipToSync(atReady = false): void {
    for (let e = this.front(); e !== undefined && !ends(e.kind, atReady); e = this.front()) {
      this.settle(e, 'skipped');
      this.shift();
    }
  }

  private settle(e: Expectation, outcome: 'failed' | 'skipped'): void {
    if (e.statementDef) this.statements.settle(e.statementDef, outcome);
    if (e.portalDef) this.portals.settle(e.portalDef, outcome);
    if (outcome === 'skipped' && e.done) e.error = { code: 'skipped', message: 'not run: an earlier message in the same batch failed' };
    this.complete(e);
  }

  private readyForQuery(): void {
    this.skipToSync(true);
    const e = this.front();
    if (e === undefined) return;
    this.complete(e);
    this.shift();
    // nothing is pipelined behind this answer: portals outside a transaction block are gone
    if (this.front() === undefined) this.portals.clear();
  }

  private parameterStatus(buf: Buffer, start: number, end: number): undefined {
    const [name, value] = readParameterStatus(buf, start, end);
    if (name === 'client_encoding' && value.toUpperCase() !== 'UTF8') {
      // classification and masking read text as UTF-8; another encoding would let bytes mean something else upstream
      setImmediate(() => this.fatal(new ProtocolError(`client_encoding ${value} is not supported through the gateway; only UTF8`)));
    }
    return undefined;
  }

  /** Records the interaction once the answer in hand has been written (hashing and storing are not the client's wait). */
  private complete(e: Expectation): void {
    if (e.done !== null) this.finished.push(e);
  }

  private record(e: Expectation): void {
    const done = e.done;
    if (done === null) return;
    e.done = null;
    e.admission = null;
    const body = JSON.stringify({ command: e.command, rows: e.rows || e.rowsSeen, ...(e.error ? { error: e.error } : {}) });
    done({ responseStatus: null, responseBody: body, bytesOut: e.bytesOut, upstreamError: e.error });
  }

  private readonly logFailure = (err: unknown): void => {
    this.logger.error({ err, session: this.session.id }, 'could not close a session record');
  };

  // ── ending ───────────────────────────────────────────────────────────────────

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
    this.fatal(new UpstreamError('upstream_unreachable', 'the connection to the database was lost'));
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const e of this.finished) this.record(e);
    this.finished.length = 0;
    for (let e = this.front(); e !== undefined; e = this.front()) {
      // The database already answered with an error (its ReadyForQuery had not arrived): that outcome is known.
      if (e.error) this.record(e);
      const done = e.done;
      e.done = null;
      e.admission = null;
      done?.({ responseStatus: null, responseBody: null, bytesOut: e.bytesOut, interrupted: true });
      this.shift();
    }
    if (this.upstream.writable) this.upstream.end(terminateMessage());
    this.upstream.destroySoon();
    this.client.end();
    this.client.destroySoon();
    this.options.onEnd();
    this.closed = this.session.close(reason).catch(this.logFailure);
  }
}

/** Never called: the draft of a statement that cannot run throws before anything is admitted. */
function unreachable(): never {
  throw new Error('a refused statement was admitted');
}

function ends(kind: Kind, atReady: boolean): boolean {
  return kind === Kind.Sync || (atReady && (kind === Kind.Query || kind === Kind.RefusedQuery));
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
