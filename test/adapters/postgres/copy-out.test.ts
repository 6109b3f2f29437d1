/**
 * The COPY masker on protocol frames, with a real compiled profile: CopyData cut anywhere (a
 * secret split across messages, several records in one), headers the gateway added dropped and
 * the client's kept, and every shape it cannot place withheld: the rest of the output dropped and
 * the command's end replaced by masking_failed. The end-to-end runs are in copy-masking.test.ts.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { initSqlClassifier } from '../../../src/classify/sql.ts';
import { compileMaskingProfiles } from '../../../src/masking/index.ts';
import type { Admission } from '../../../src/adapter-contract.ts';
import { Expectation, Kind } from '../../../src/adapters/postgres/extended-tracker.ts';
import { copyData, copyDone, copyOutResponse, copyOutStatements, expectCopyOut } from '../../../src/adapters/postgres/copy-out.ts';
import { planCopyOut } from '../../../src/adapters/postgres/copy-statement.ts';
import { i16, msg } from './wire-bytes.ts';

const AWS = 'AKIAIOSFODNN7EXAMPLE';
const EMAIL = 'ada@example.org';
const profile = compileMaskingProfiles({ profiles: { p: { entities: { email: 'redact', secret: 'redact' }, columns: ['ssn'] } } }, randomBytes(32)).get('p')!;

const outResponse = (columns: number, binary = false) => msg('H', Buffer.from([binary ? 1 : 0]), i16(columns), ...Array.from({ length: columns }, () => i16(binary ? 1 : 0)));
const data = (s: string | Buffer) => msg('d', typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

function expectation(sql: string, kind = Kind.Query): Expectation {
  const e = new Expectation(kind);
  e.masked = true;
  e.admission = { maskRow: (columns: readonly string[], values: readonly (string | null)[]) => profile.maskRow(columns, values).values } as unknown as Admission;
  if (kind === Kind.Query) expectCopyOut(e, copyOutStatements(sql).plans);
  else e.portal = { statement: { sql, facts: null, columns: null } } as unknown as Expectation['portal'];
  return e;
}

/** The frames of a buffer that may hold several. */
function split(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < buf.length; pos += 1 + buf.readInt32BE(pos + 1)) out.push(buf.subarray(pos, pos + 1 + buf.readInt32BE(pos + 1)));
  return out;
}

/** Runs one COPY through the masker: the bytes the client's CopyData carry, and the frames it gets. */
function run(e: Expectation, columns: number, pieces: (string | Buffer)[]): { text: string; frames: Buffer[]; response: Buffer | null | undefined } {
  const frames: Buffer[] = [];
  const h = outResponse(columns);
  const response = copyOutResponse(e, h, 0, h.length);
  for (const p of pieces) {
    const f = data(p);
    const r = copyData(e, f, 0, f.length);
    if (r === undefined) frames.push(f);
    else if (r !== null) frames.push(...split(r));
  }
  const done = copyDone(e);
  if (done === undefined) frames.push(msg('c'));
  else if (done !== null) frames.push(...split(done));
  const text = Buffer.concat(frames.flatMap((f) => (f[0] === 0x64 ? [f.subarray(5)] : []))).toString('utf8');
  return { text, frames, response };
}

describe('COPY output masked frame by frame', () => {
  before(() => initSqlClassifier());

  const HEADER = 'id\tssn\tnote\n';
  const ROWS = `1\t123-45-6789\tkey ${AWS} for ${EMAIL}\n2\t\\N\tplain \\t text ü\n3\tx\t\\\\N\n`;
  const MASKED = '1\t[REDACTED]\tkey [AWS_ACCESS_KEY] for [EMAIL]\n2\t\\N\tplain \\t text ü\n3\t[REDACTED]\t\\\\N\n';

  test('the header the gateway added names the columns and is dropped; the rows come masked', () => {
    const r = run(expectation('COPY t TO STDOUT'), 3, [HEADER, ...ROWS.split(/(?<=\n)/)]);
    assert.equal(r.response, undefined, 'CopyOutResponse goes on unchanged');
    assert.equal(r.text, MASKED);
  });

  test('a secret split across CopyData messages at every byte is still masked, and the output is the same', () => {
    const stream = Buffer.from(HEADER + ROWS, 'utf8');
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 7)]) {
        const r = run(expectation('COPY t TO STDOUT'), 3, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        assert.equal(r.text, MASKED, `cut at ${i}/${j}`);
        assert.ok(!r.text.includes(AWS) && !r.text.includes('123-45'), `cut at ${i}/${j}`);
      }
    }
  });

  test('several records in one CopyData, and one byte per CopyData', () => {
    assert.equal(run(expectation('COPY t TO STDOUT'), 3, [HEADER + ROWS]).text, MASKED);
    assert.equal(run(expectation('COPY t TO STDOUT'), 3, [...Buffer.from(HEADER + ROWS)].map((x) => Buffer.from([x]))).text, MASKED);
  });

  test('a frame masking leaves alone is forwarded as the very same frame', () => {
    const e = expectation('COPY t (id, note) TO STDOUT');
    const h = outResponse(2);
    copyOutResponse(e, h, 0, h.length);
    const f = data('1\tnothing to see\n2\t\\N\n');
    assert.equal(copyData(e, f, 0, f.length), undefined);
  });

  test("the client's own header is kept, in CSV with quoted names", () => {
    const r = run(expectation('COPY t TO STDOUT (FORMAT csv, HEADER)'), 3, ['id,"SSN",note\n1,"123-45-6789","a,""b"""\n2,,\n']);
    assert.equal(r.text, 'id,"SSN",note\n1,"[REDACTED]","a,""b"""\n2,,\n', 'column rules match names without regard to case');
  });

  test('a final record without its line end is masked at CopyDone', () => {
    const r = run(expectation('COPY t (ssn) TO STDOUT'), 1, ['123-45-6789\n', '987-65-4321']);
    assert.equal(r.text, '[REDACTED]\n[REDACTED]');
  });

  test('withheld, not passed: a record with too many or too few fields; the rest is dropped and the end replaced', () => {
    for (const bad of ['1\t2\t3\t4\n', '1\t2\n', '\n']) {
      const e = expectation('COPY t (id, ssn, note) TO STDOUT');
      const r = run(e, 3, ['1\t123-45-6789\tok\n', bad, '2\t555-12-3456\tlater\n']);
      assert.equal(r.text, '1\t[REDACTED]\tok\n', JSON.stringify(bad));
      assert.equal(e.maskFailure?.code, 'masking_failed');
      assert.ok(!r.frames.some((f) => f[0] === 0x63), 'no CopyDone: the command ends with the error');
    }
  });

  test('withheld: CSV output that ends inside quotes', () => {
    const e = expectation('COPY t (note) TO STDOUT CSV');
    const r = run(e, 1, ['"ok"\n', `"${AWS}`]);
    assert.equal(r.text, '"ok"\n');
    assert.ok(!r.text.includes(AWS));
    assert.equal(e.maskFailure?.code, 'masking_failed');
  });

  test('withheld at the start: binary output, a column list that does not match, data without a COPY', () => {
    const binary = expectation('COPY t (a) TO STDOUT');
    const h = outResponse(1, true);
    assert.equal(copyOutResponse(binary, h, 0, h.length), null);
    assert.match(binary.maskFailure?.message ?? '', /binary/);

    const mismatch = expectation('COPY t (a, b) TO STDOUT');
    const h3 = outResponse(3);
    assert.equal(copyOutResponse(mismatch, h3, 0, h3.length), null);

    const stray = expectation('SELECT 1');
    const f = data(`${AWS}\n`);
    assert.equal(copyData(stray, f, 0, f.length), null);
    assert.equal(stray.maskFailure?.code, 'masking_failed');
  });

  test('more COPY outputs than COPY statements: the extra one is withheld', () => {
    const e = expectation('COPY a (x) TO STDOUT');
    assert.equal(run(e, 1, ['1\n']).text, '1\n');
    const h = outResponse(1);
    assert.equal(copyOutResponse(e, h, 0, h.length), null);
  });

  test('an Execute: names from its column list or its own header; otherwise withheld', () => {
    assert.equal(run(expectation('COPY t (ssn) TO STDOUT', Kind.Execute), 1, ['123-45-6789\n']).text, '[REDACTED]\n');
    assert.equal(run(expectation('COPY t TO STDOUT CSV HEADER', Kind.Execute), 1, ['ssn\n123-45-6789\n']).text, 'ssn\n"[REDACTED]"\n');
    const unnamed = expectation('COPY t TO STDOUT', Kind.Execute);
    const h = outResponse(1);
    assert.equal(copyOutResponse(unnamed, h, 0, h.length), null);
    assert.match(unnamed.maskFailure?.message ?? '', /cannot be named/);
  });

  test('a profile that fails on a record (over its scan limit) withholds the rest', () => {
    const small = compileMaskingProfiles({ profiles: { s: { entities: { email: 'redact' }, maxScanBytes: 32 } } }, randomBytes(32)).get('s')!;
    const e = expectation('COPY t (note) TO STDOUT');
    e.admission = { maskRow: (c: readonly string[], v: readonly (string | null)[]) => small.maskRow(c, v).values } as unknown as Admission;
    const r = run(e, 1, ['short\n', `${'x'.repeat(40)} ${EMAIL}\n`, 'after\n']);
    assert.equal(r.text, 'short\n');
    assert.equal(e.maskFailure?.code, 'masking_failed');
  });

  test('statements that cannot be masked are refused before they are sent', () => {
    for (const sql of ['COPY t TO STDOUT (FORMAT binary)', "COPY t TO STDOUT (ENCODING 'LATIN1')", 'COPY t TO STDOUT (HEADER false)', 'COPY t TO STDOUT ( /* x */ FORMAT csv)']) {
      assert.throws(() => copyOutStatements(sql), (err: any) => err.code === 'masking_failed', sql);
    }
    assert.equal(planCopyOut('COPY t TO STDOUT', true).plans.length, 1);
  });
});
