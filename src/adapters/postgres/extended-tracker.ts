/**
 * What the client asked and what each upstream answer belongs to, without a socket: every message
 * that draws an answer pushes an Expectation, and the upstream answers them first in, first out.
 * After an error in the extended protocol the server skips everything up to Sync, and so do the
 * expectations. Prepared statements, portals and SQL cursors are tracked by name so that an
 * Execute or FETCH is classified with what it really runs.
 */
import type { GatewayError } from '../../errors.ts';
import type { Admission, ForwardResult } from '../../adapter-contract.ts';
import type { SqlFacts } from '../../interaction.ts';
import { sqlStatementNames } from '../../classify/sql.ts';
import type { Columns } from './backend-frames.ts';
import { NameTable, type Definition } from './name-table.ts';
import { describeParams, exactExecute, mergeStatements, type PortalEntry, type StatementEntry } from './to-interaction.ts';
import type { BindMessage } from './codec.ts';

const SKIPPED = Object.freeze({ code: 'skipped', message: 'not run: an earlier message in the same batch failed' });

export const enum Kind {
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

export class Expectation {
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

  /** The statement's result for its record; only the first call reports, later ones do nothing. */
  report(interrupted = false): void {
    const done = this.done;
    if (done === null) return;
    this.done = null;
    this.admission = null;
    if (interrupted && this.error === null) {
      done({ responseStatus: null, responseBody: null, bytesOut: this.bytesOut, interrupted: true });
      return;
    }
    const body = JSON.stringify({ command: this.command, rows: this.rows || this.rowsSeen, ...(this.error ? { error: this.error } : {}) });
    const skipped = this.error?.code === SKIPPED.code;
    done({ responseStatus: null, responseBody: body, bytesOut: this.bytesOut, upstreamError: skipped ? null : this.error, skipped });
  }
}

export class ExtendedTracker {
  readonly statements = new NameTable<StatementEntry>(mergeStatements);
  readonly portals = new NameTable<PortalEntry>((_older, newer) => newer);
  /** SQL cursors (DECLARE): FETCH is classified with what the cursor reads. Never settled, so merged on reuse. */
  readonly cursors = new NameTable<StatementEntry>(mergeStatements);
  private readonly expected: Expectation[] = [];
  private head = 0;

  /** `answered` is told of each expectation whose answer is complete and that has a statement to report. */
  constructor(private readonly answered: (e: Expectation) => void) {}

  // ── what the client sent ─────────────────────────────────────────────────────

  expect(e: Expectation): Expectation {
    this.expected.push(e);
    return e;
  }

  parse(name: string, entry: StatementEntry): Expectation {
    const e = new Expectation(Kind.Parse);
    e.statementDef = this.statements.define(name, entry);
    return this.expect(e);
  }

  bind(msg: BindMessage): Expectation {
    const statement = this.statements.get(msg.statement);
    const e = new Expectation(Kind.Bind);
    if (statement === undefined) {
      // the upstream will refuse it; if it did not, an Execute of this portal is refused
      this.portals.delete(msg.portal);
    } else {
      e.portalDef = this.portals.define(msg.portal, {
        statement,
        params: describeParams(msg.params, msg.paramFormats),
        resultFormats: msg.resultFormats,
        columns: null,
        bindBytes: msg.raw.length,
        exact: exactExecute(statement, msg.paramFormats, msg.params),
      });
    }
    return this.expect(e);
  }

  describe(target: 'S' | 'P', name: string): Expectation {
    const e = new Expectation(Kind.Describe);
    if (target === 'S') e.statement = this.statements.get(name) ?? null;
    else e.portal = this.portals.get(name) ?? null;
    return this.expect(e);
  }

  close(target: 'S' | 'P', name: string): Expectation {
    if (target === 'S') this.statements.delete(name);
    else this.portals.delete(name);
    return this.expect(new Expectation(Kind.Close));
  }

  /** A simple Query replaces the unnamed statement and portal, whatever it runs. */
  simpleQuery(): void {
    this.statements.delete('');
    this.portals.delete('');
  }

  /**
   * SQL-level PREPARE shares the protocol's namespace and is not undone by a rollback; whether a
   * DECLARE took effect is not known either: both are never settled, so a reused name stays merged.
   */
  definePrepared(parsed: SqlFacts, sql: string, facts: SqlFacts): void {
    const names = sqlStatementNames(parsed);
    for (const name of names.prepared) this.statements.define(name, { sql, facts, columns: null });
    for (const name of names.declared) this.cursors.define(name, { sql, facts, columns: null });
  }

  // ── what the upstream answered ───────────────────────────────────────────────

  front(): Expectation | undefined {
    return this.expected[this.head];
  }

  parseComplete(): void {
    const e = this.front();
    if (e?.kind !== Kind.Parse) return;
    this.statements.settle(e.statementDef!, 'ok');
    this.shift();
  }

  bindComplete(): void {
    const e = this.front();
    if (e?.kind !== Kind.Bind) return;
    if (e.portalDef) this.portals.settle(e.portalDef, 'ok');
    this.shift();
  }

  closeComplete(): void {
    if (this.front()?.kind === Kind.Close) this.shift();
  }

  noData(): void {
    if (this.front()?.kind === Kind.Describe) this.shift();
  }

  /** A RowDescription: the answer to a Describe (remembered for the statement or portal), else the head of a result. */
  rowDescription(columns: () => Columns): Expectation | undefined {
    const e = this.front();
    if (e?.kind !== Kind.Describe) return e;
    const described = columns();
    if (e.statement) e.statement.columns = described;
    if (e.portal) e.portal.columns = described;
    this.shift();
    return undefined;
  }

  /** CommandComplete, EmptyQueryResponse or PortalSuspended ends an Execute; a Query waits for ReadyForQuery. */
  resultEnd(e: Expectation): void {
    if (e.kind !== Kind.Execute) return;
    this.finish(e);
    this.shift();
  }

  /** The upstream's ErrorResponse for `e`: a failed extended message settles it and skips to Sync. */
  error(e: Expectation): void {
    switch (e.kind) {
      case Kind.Query:
      case Kind.Sync:
      case Kind.RefusedQuery:
        // ReadyForQuery follows and ends these
        return;
      case Kind.RefusedExecute:
        this.shift();
        this.skipToSync();
        return;
      default:
        this.settle(e, 'failed');
        this.shift();
        this.skipToSync();
    }
  }

  /** `status` is ReadyForQuery's transaction status: `I` idle, `T` in a transaction, `E` in a failed one. */
  readyForQuery(status: 'I' | 'T' | 'E'): void {
    this.skipToSync(true);
    const e = this.front();
    if (e === undefined) return;
    this.finish(e);
    this.shift();
    // Portals live until their transaction ends (a driver's cursor fetches across Syncs inside one):
    // only when idle with nothing pipelined behind this answer are they gone.
    if (status === 'I' && this.front() === undefined) this.portals.clear();
  }

  /** Every expectation still waiting, in order, removed (the session is ending). */
  drain(): Expectation[] {
    const rest = this.expected.slice(this.head);
    this.expected.length = 0;
    this.head = 0;
    return rest;
  }

  get pending(): number {
    return this.expected.length - this.head;
  }

  private finish(e: Expectation): void {
    if (e.done !== null) this.answered(e);
  }

  /**
   * After an extended-protocol error the upstream ignores everything up to Sync: so do the
   * expectations. At ReadyForQuery, only extended messages sent after that error are still waiting.
   */
  private skipToSync(atReady = false): void {
    for (let e = this.front(); e !== undefined && !endsSkip(e.kind, atReady); e = this.front()) {
      this.settle(e, 'skipped');
      this.shift();
    }
  }

  private settle(e: Expectation, outcome: 'failed' | 'skipped'): void {
    if (e.statementDef) this.statements.settle(e.statementDef, outcome);
    if (e.portalDef) this.portals.settle(e.portalDef, outcome);
    if (outcome === 'skipped' && e.done) e.error = SKIPPED;
    this.finish(e);
  }

  private shift(): void {
    this.expected[this.head++] = undefined as unknown as Expectation;
    if (this.head === this.expected.length) {
      this.expected.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.expected.splice(0, this.head);
      this.head = 0;
    }
  }
}

function endsSkip(kind: Kind, atReady: boolean): boolean {
  return kind === Kind.Sync || (atReady && (kind === Kind.Query || kind === Kind.RefusedQuery));
}
