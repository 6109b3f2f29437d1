/**
 * `COPY … TO STDOUT` under a masking profile, masked record by record with the same column and
 * content rules as result rows (the admission's maskRow). The statement's plan says the format
 * and where the column names come from (copy-statement.ts); each CopyData is cut into records
 * (copy-format.ts), whatever its size. A field masking leaves alone keeps its bytes; a changed
 * one is re-encoded. Anything that cannot be placed fails closed: before the COPY runs, the
 * statement is refused; once rows flowed, the rest is withheld and the command ends with
 * `masking_failed` in place of its CopyDone and CommandComplete.
 */
import { serialize } from 'pg-protocol';
import { MaskingError, toGatewayError } from '../../errors.ts';
import { CopyRecordReader, readFields, writeRecord, type CopyFields, type CopyRecord } from './copy-format.ts';
import { planCopyOut, type CopyOutPlan } from './copy-statement.ts';
import { Kind, type Expectation } from './extended-tracker.ts';
import { BackendCode } from './message-codes.ts';

/** A record held while its end has not arrived (a server sends one per CopyData; a row is at most 1 GB there). */
export const MAX_COPY_RECORD_BYTES = 64 * 1024 * 1024;

interface Active {
  readonly plan: CopyOutPlan;
  readonly reader: CopyRecordReader;
  readonly columns: number;
  names: readonly string[] | null;
  /** The next record is the header. */
  header: boolean;
}

interface CopyState {
  readonly plans: readonly CopyOutPlan[];
  next: number;
  active: Active | null;
}

const states = new WeakMap<Expectation, CopyState>();
const COPY_DONE = Buffer.from([BackendCode.CopyDone, 0, 0, 0, 4]);

/**
 * The plans for a simple Query's COPY … TO STDOUT statements, and the Query to send (with HEADER
 * added where needed). Throws MaskingError, before anything is sent, for a COPY that cannot be masked.
 */
export function copyOutStatements(sql: string): { plans: readonly CopyOutPlan[]; raw: Buffer | null } {
  const { plans, rewritten } = planCopyOut(sql, true);
  for (const plan of plans) {
    if (plan.refusal !== null) throw new MaskingError(`${plan.refusal}; the statement was not sent`);
    if (plan.names === null && plan.header === 'none') {
      throw new MaskingError('the columns of this COPY output cannot be named, so it cannot be masked by column; the statement was not sent (add a column list or HEADER)');
    }
  }
  return { plans, raw: rewritten === null ? null : serialize.query(rewritten) };
}

export function expectCopyOut(e: Expectation, plans: readonly CopyOutPlan[]): void {
  states.set(e, { plans, next: 0, active: null });
}

/** CopyOutResponse of a masked statement: starts masking its COPY, or withholds it (null). */
export function copyOutResponse(e: Expectation, buf: Buffer, start: number, end: number): Buffer | null | undefined {
  if (!e.masked) return undefined;
  const plan = nextPlan(e);
  if (e.maskFailure) return null;
  const binary = end - start < 8 || buf[start + 5] !== 0;
  const columns = binary ? 0 : buf.readInt16BE(start + 6);
  const why =
    plan === null ? 'the gateway cannot tell which COPY statement this output belongs to'
    : plan.refusal !== null ? plan.refusal
    : binary ? 'COPY output in binary format cannot be masked'
    : plan.names === null && plan.header === 'none' ? 'the columns of this COPY output cannot be named (add a column list or HEADER, or use a simple query)'
    : plan.names !== null && plan.names.length !== columns ? 'the COPY column list does not match its output'
    : null;
  if (why !== null) return withhold(e, why);
  states.get(e)!.active = {
    plan: plan!,
    reader: new CopyRecordReader(plan!.format!, MAX_COPY_RECORD_BYTES),
    columns,
    names: plan!.names,
    header: plan!.header !== 'none',
  };
  return undefined;
}

/** One CopyData of a masked COPY: undefined when it goes on unchanged, its replacement, or null (withheld or nothing complete yet). */
export function copyData(e: Expectation, buf: Buffer, start: number, end: number): Buffer | null | undefined {
  if (e.maskFailure) return null;
  const copy = states.get(e)?.active;
  if (!copy) return withhold(e, 'COPY data arrived without a COPY under way');
  const heldBefore = copy.reader.held;
  const records: CopyRecord[] = [];
  if (!copy.reader.push(buf.subarray(start + 5, end), records)) {
    return withhold(e, `a COPY record longer than ${MAX_COPY_RECORD_BYTES} bytes cannot be masked`);
  }
  const out: Buffer[] = [];
  let changed = heldBefore > 0 || copy.reader.held > 0;
  for (const record of records) {
    const masked = maskRecord(e, copy, record);
    if (masked === null) return null;
    if (masked === undefined || Buffer.isBuffer(masked)) changed = true;
    if (masked !== undefined) out.push(Buffer.isBuffer(masked) ? masked : Buffer.concat([masked.body, masked.lineEnd]));
  }
  if (!changed) return undefined;
  return out.length === 0 ? null : copyDataFrame(out);
}

/** CopyDone of a masked COPY: a record left without its line end is masked and sent first. */
export function copyDone(e: Expectation): Buffer | null | undefined {
  if (e.maskFailure) return null;
  const state = states.get(e);
  const copy = state?.active;
  if (!copy) return undefined;
  state.active = null;
  const rest = copy.reader.finish();
  if (rest === undefined) return withhold(e, 'the COPY output ended inside a quoted value');
  if (rest === null) return undefined;
  const masked = maskRecord(e, copy, rest);
  if (masked === null) return null;
  if (masked === undefined) return undefined;
  return Buffer.concat([copyDataFrame([Buffer.isBuffer(masked) ? masked : masked.body]), COPY_DONE]);
}

/**
 * One record: the header is read for names (and dropped when the gateway added it: undefined), a
 * row is masked. Returns the record itself when nothing changed, its masked bytes, or null once withheld.
 */
function maskRecord(e: Expectation, copy: Active, record: CopyRecord): CopyRecord | Buffer | null | undefined {
  const format = copy.plan.format!;
  const fields: CopyFields = copy.columns === 0 && record.body.length === 0 ? { raw: [], values: [] } : readFields(format, record.body, !copy.header);
  if (fields.values.length !== copy.columns) {
    withhold(e, 'a COPY record does not have as many fields as the output has columns');
    return null;
  }
  if (copy.header) {
    copy.header = false;
    copy.names ??= fields.values as string[];
    return copy.plan.header === 'added' ? undefined : record;
  }
  let masked: (string | null)[];
  try {
    if (e.admission === null) throw new MaskingError('the statement ended before its COPY output');
    masked = e.admission.maskRow(copy.names!, fields.values);
  } catch (err) {
    e.maskFailure = toGatewayError(err);
    return null;
  }
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] !== fields.values[i]) return writeRecord(format, fields, masked, record.lineEnd);
  }
  return record;
}

function nextPlan(e: Expectation): CopyOutPlan | null {
  let state = states.get(e);
  if (state === undefined) {
    // an Execute: its statement was parsed before anyone knew masking would apply, so HEADER cannot be added
    const sql = e.kind === Kind.Execute ? e.portal?.statement.sql : undefined;
    state = { plans: sql === undefined ? [] : planCopyOut(sql, false).plans, next: 0, active: null };
    states.set(e, state);
  }
  state.active = null;
  return state.plans[state.next++] ?? null;
}

function withhold(e: Expectation, why: string): null {
  e.maskFailure ??= new MaskingError(`${why}; the COPY output was withheld`);
  const state = states.get(e);
  if (state) state.active = null;
  return null;
}

function copyDataFrame(parts: readonly Buffer[]): Buffer {
  let length = 4;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(1 + length);
  out[0] = BackendCode.CopyData;
  let pos = out.writeInt32BE(length, 1);
  for (const p of parts) pos += p.copy(out, pos);
  return out;
}
