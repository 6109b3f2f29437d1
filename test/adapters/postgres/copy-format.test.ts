/**
 * COPY's text and CSV formats as the gateway reads and writes them, and the plans it makes from
 * COPY statements: hostile values (delimiters, quotes, escapes, newlines, NULL look-alikes,
 * unicode), records cut at every byte, and option spellings that must be refused or rewritten
 * exactly. Expected values are PostgreSQL's documented readings, written out by hand.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlClassifier } from '../../../src/classify/sql.ts';
import { CopyRecordReader, encodeField, readFields, writeRecord, type CopyFormat, type CopyRecord } from '../../../src/adapters/postgres/copy-format.ts';
import { planCopyOut } from '../../../src/adapters/postgres/copy-statement.ts';
import { seededRandom } from '../../support/prng.ts';

const TEXT: CopyFormat = { csv: false, delimiter: 0x09, nullString: Buffer.from('\\N'), quote: 0x22, escape: 0x22 };
const CSV: CopyFormat = { csv: true, delimiter: 0x2c, nullString: Buffer.alloc(0), quote: 0x22, escape: 0x22 };
const CSV_BACKSLASH: CopyFormat = { ...CSV, escape: 0x5c };

const b = (s: string) => Buffer.from(s, 'utf8');
const values = (f: CopyFormat, s: string) => readFields(f, b(s)).values;

/** Every record of `stream`, fed in the given pieces. */
function records(f: CopyFormat, pieces: Buffer[], max = 1 << 20): CopyRecord[] {
  const reader = new CopyRecordReader(f, max);
  const out: CopyRecord[] = [];
  for (const p of pieces) assert.ok(reader.push(p, out));
  const rest = reader.finish();
  if (rest) out.push(rest);
  return out;
}
const show = (rs: CopyRecord[]) => rs.map((r) => r.body.toString('utf8') + '|' + r.lineEnd.toString('hex'));

describe('COPY text format', () => {
  test('escapes decode as COPY FROM reads them: \\t \\n \\r \\\\, an escaped delimiter, octal, hex, any other character itself', () => {
    assert.deepEqual(values(TEXT, 'a\\tb\tc\\nd\\re\te\\\\f\tx\\\ty'), ['a\tb', 'c\nd\re', 'e\\f', 'x\ty']);
    assert.deepEqual(values(TEXT, '\\101\\x41\\x4\\8\\xg\\q'), ['AA\x048xgq']);
    assert.deepEqual(values(TEXT, '\\b\\f\\v\\0'), ['\b\f\v\0']);
  });

  test('\\N is NULL only as the whole raw field: an escaped backslash before N is text', () => {
    assert.deepEqual(values(TEXT, '\\N\t\\\\N\tN\t\\Nx\t'), [null, '\\N', 'N', 'Nx', '']);
    const custom = { ...TEXT, nullString: b('NULL') };
    assert.deepEqual(values(custom, 'NULL\t\\NULL\tnull\t\\N'), [null, 'NULL', 'null', 'N']);
  });

  test('a record ends at an unescaped newline; \\r\\n is kept as the line end, an escaped \\r is data', () => {
    assert.deepEqual(show(records(TEXT, [b('a\tb\nc\\\nd\n')])), ['a\tb|0a', 'c\\\nd|0a']);
    assert.deepEqual(show(records(TEXT, [b('a\r\nb\\\r\n')])), ['a|0d0a', 'b\\\r|0a']);
    assert.deepEqual(show(records(TEXT, [b('x\\\\\r\n')])), ['x\\\\|0d0a'], 'an even run of backslashes escapes nothing');
  });

  test('a record cut at every byte (multi-byte characters too) reads the same', () => {
    const stream = b('1\tünï\\tcødé 漢字 😀\t\\N\n2\t\\\\\t\\x41\r\n3\t\t\n');
    const whole = show(records(TEXT, [stream]));
    for (let i = 0; i <= stream.length; i++) assert.deepEqual(show(records(TEXT, [stream.subarray(0, i), stream.subarray(i)])), whole, `cut at ${i}`);
    assert.deepEqual(show(records(TEXT, [...stream].map((x) => Buffer.from([x])))), whole, 'one byte at a time');
  });

  test('a record longer than the limit is refused, a final record without a line end is still a record', () => {
    const reader = new CopyRecordReader(TEXT, 8);
    const out: CopyRecord[] = [];
    assert.equal(reader.push(b('12345'), out), true);
    assert.equal(reader.push(b('6789'), out), false);
    assert.deepEqual(show(records(TEXT, [b('a\nb')])), ['a|0a', 'b|']);
  });

  test('encoding escapes exactly what COPY FROM would misread, and reads back to the value', () => {
    assert.equal(encodeField(TEXT, 'a\tb\nc\rd\\e\bf\fg\vh').toString(), 'a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh');
    assert.equal(encodeField({ ...TEXT, delimiter: 0x7c }, 'a|b').toString(), 'a\\|b');
    assert.equal(encodeField(TEXT, null).toString(), '\\N');
    assert.deepEqual(readFields(TEXT, encodeField(TEXT, '\\N')).values, ['\\N'], 'the text \\N is not NULL once encoded');
  });
});

describe('COPY CSV format', () => {
  test('quoted delimiters, doubled quotes, embedded newlines and CRLF inside quotes', () => {
    const rs = records(CSV, [b('1,"a,b","say ""hi""","line1\nline2\r\nline3"\n2,x,,""\n')]);
    assert.equal(rs.length, 2);
    assert.deepEqual(readFields(CSV, rs[0]!.body).values, ['1', 'a,b', 'say "hi"', 'line1\nline2\r\nline3']);
    assert.deepEqual(readFields(CSV, rs[1]!.body).values, ['2', 'x', null, ''], 'unquoted empty is NULL, "" is the empty string');
  });

  test('quotes may open and close anywhere in a field; the NULL string quoted is text', () => {
    assert.deepEqual(values(CSV, 'ab"c,d"e,"x"y'), ['abc,de', 'xy']);
    const custom = { ...CSV, nullString: b('NULL') };
    assert.deepEqual(values(custom, 'NULL,"NULL",,null'), [null, 'NULL', '', 'null']);
  });

  test('ESCAPE other than QUOTE: \\" and \\\\ inside quotes, a lone backslash and anything outside quotes literal', () => {
    assert.deepEqual(values(CSV_BACKSLASH, '"a\\"b","c\\\\d","e\\f",g\\"h"'), ['a"b', 'c\\d', 'e\\f', 'g\\h']);
    assert.deepEqual(show(records(CSV_BACKSLASH, [b('"a\\"\nb"\nc\n')])), ['"a\\"\nb"|0a', 'c|0a'], 'an escaped quote does not close: the newline is data');
  });

  test('another delimiter and quote character', () => {
    const f: CopyFormat = { csv: true, delimiter: 0x3b, nullString: b('NULL'), quote: 0x27, escape: 0x27 };
    assert.deepEqual(values(f, "'a;b';'it''s';NULL;\"x\""), ['a;b', "it's", null, '"x"']);
  });

  test('a record cut at every byte reads the same, with either escape', () => {
    for (const f of [CSV, CSV_BACKSLASH]) {
      const stream = b('1,"a,""b\n\\"c",😀\n"x\\\\",y\r\n,,\n');
      const whole = show(records(f, [stream]));
      for (let i = 0; i <= stream.length; i++) {
        for (const j of [i, Math.min(stream.length, i + 1), Math.min(stream.length, i + 3)]) {
          assert.deepEqual(show(records(f, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)])), whole, `cut at ${i}/${j}`);
        }
      }
    }
  });

  test('a stream ending inside quotes has no last record', () => {
    const reader = new CopyRecordReader(CSV, 1024);
    assert.equal(reader.push(b('1,"open\n'), []), true);
    assert.equal(reader.finish(), undefined);
  });

  test('encoded values are always quoted (never NULL), escape quote and escape, and read back', () => {
    assert.equal(encodeField(CSV, '').toString(), '""');
    assert.equal(encodeField(CSV, 'a"b,c\nd').toString(), '"a""b,c\nd"');
    assert.equal(encodeField(CSV_BACKSLASH, 'a"b\\c').toString(), '"a\\"b\\\\c"');
    assert.equal(encodeField(CSV, null).toString(), '');
  });
});

describe('COPY records rebuilt', () => {
  test('unchanged fields keep their raw bytes (FORCE_QUOTE quoting, escapes), only a replaced value is encoded', () => {
    const body = b('"1","a\tb",\\N,"say ""x"""');
    const fields = readFields(CSV, body);
    const out = writeRecord(CSV, fields, ['1', 'a\tb', '[REDACTED]', 'say "x"'], b('\n'));
    assert.equal(out.toString(), '"1","a\tb","[REDACTED]","say ""x"""\n');
  });

  test('hostile values round-trip through encode and read in both formats (seeded fuzz)', () => {
    const random = seededRandom(19);
    const alphabet = ['a', ',', '\t', '\n', '\r', '"', "'", '\\', 'N', ';', '|', 'ü', '漢', '😀', ' ', '\\N', '""', '\0'.replace('\0', 'z')];
    for (const f of [TEXT, CSV, CSV_BACKSLASH, { ...TEXT, delimiter: 0x7c, nullString: b('NULL') }]) {
      for (let n = 0; n < 300; n++) {
        const vs = Array.from({ length: 1 + Math.floor(random() * 4) }, () =>
          random() < 0.1 ? null : Array.from({ length: Math.floor(random() * 8) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''),
        );
        const line = Buffer.concat([...vs.flatMap((v, i) => (i === 0 ? [encodeField(f, v)] : [Buffer.from([f.delimiter]), encodeField(f, v)])), b('\n')]);
        const rs = records(f, [line]);
        assert.equal(rs.length, 1, JSON.stringify(vs));
        const read = readFields(f, rs[0]!.body).values;
        // text format: an encoded value equal to a custom NULL string reads as NULL, as in PostgreSQL itself
        const expected = vs.map((v) => (!f.csv && v !== null && encodeField(f, v).equals(f.nullString) ? null : v));
        assert.deepEqual(read, expected, JSON.stringify(vs));
      }
    }
  });
});

describe('COPY statements planned', () => {
  before(() => initSqlClassifier());

  const one = (sql: string, rewrite = true) => {
    const r = planCopyOut(sql, rewrite);
    return { ...r, plan: r.plans[0] };
  };

  test('the column list names the columns; quoted identifiers keep their case', () => {
    const { plan, rewritten } = one('COPY t (a, "Ssn", "odd,col") TO STDOUT');
    assert.deepEqual(plan?.names, ['a', 'Ssn', 'odd,col']);
    assert.equal(plan?.header, 'none');
    assert.equal(rewritten, null, 'names known: the statement is sent as written');
  });

  test('HEADER in every spelling PostgreSQL accepts, and the values it refuses', () => {
    for (const opt of ['(HEADER)', '(HEADER true)', '(header 1)', "(HEADER 'on')", '(HEADER ON)', 'CSV HEADER']) {
      assert.equal(one(`COPY t TO STDOUT ${opt}`).plan?.header, 'client', opt);
    }
    assert.match(one('COPY t TO STDOUT (HEADER match)').plan?.refusal ?? '', /HEADER/);
    assert.match(one('COPY t TO STDOUT (HEADER 2)').plan?.refusal ?? '', /HEADER/);
    const off = one('COPY t TO STDOUT (HEADER false)');
    assert.equal(off.plan?.header, 'none');
    assert.equal(off.rewritten, null, 'HEADER false is not overridden');
  });

  test('binary, other encodings, unknown, doubled or multi-byte options are refused', () => {
    for (const sql of [
      'COPY t TO STDOUT (FORMAT binary)', 'COPY t TO STDOUT BINARY', 'COPY t TO STDOUT WITH BINARY', "COPY t TO STDOUT (FORMAT 'CSV')",
      "COPY t TO STDOUT (ENCODING 'LATIN1')", "COPY t TO STDOUT (ENCODING 'SQL_ASCII')", 'COPY t TO STDOUT (FORMAT csv, FORMAT text)',
      'COPY t TO STDOUT (SHAPE round)', "COPY t TO STDOUT (DELIMITER 'ü')", "COPY t TO STDOUT (FORMAT csv, QUOTE '')",
    ]) {
      assert.ok(one(sql).plan?.refusal, sql);
    }
    assert.equal(one("COPY t TO STDOUT (ENCODING 'UTF-8', HEADER)").plan?.refusal, null);
  });

  test('options set the format: delimiter, NULL, quote, escape and their defaults', () => {
    const p = one(`COPY t (a) TO STDOUT (FORMAT csv, DELIMITER ';', NULL 'nil', QUOTE '''', ESCAPE '\\')`).plan!;
    assert.deepEqual(p.format, { csv: true, delimiter: 0x3b, nullString: b('nil'), quote: 0x27, escape: 0x5c });
    assert.deepEqual(one('COPY t (a) TO STDOUT').plan?.format, TEXT);
    assert.deepEqual(one('COPY t (a) TO STDOUT CSV').plan?.format, CSV);
  });

  test('HEADER is added where names are unknown, checked by parsing the result: new and legacy option lists, comments, unicode', () => {
    const cases: [string, string][] = [
      ['COPY t TO STDOUT', 'COPY t TO STDOUT\nWITH (HEADER true)'],
      ['copy t to stdout -- a comment', 'copy t to stdout -- a comment\nWITH (HEADER true)'],
      ['COPY (SELECT 1) TO STDOUT (FORMAT csv)', 'COPY (SELECT 1) TO STDOUT (HEADER true, FORMAT csv)'],
      ['COPY t TO STDOUT WITH CSV QUOTE \'"\'', 'COPY t TO STDOUT WITH HEADER CSV QUOTE \'"\''],
      ["SELECT 'ü漢'; COPY ü TO STDOUT; SELECT 2", "SELECT 'ü漢'; COPY ü TO STDOUT\nWITH (HEADER true); SELECT 2"],
    ];
    for (const [sql, expected] of cases) {
      const r = one(sql);
      assert.equal(r.rewritten, expected, sql);
      assert.equal(r.plan?.header, 'added', sql);
    }
    assert.equal(one('COPY t TO STDOUT', false).rewritten, null, 'an Execute cannot be rewritten');
    assert.equal(one('COPY t TO STDOUT', false).plan?.header, 'none');
  });

  test('an insert the parser does not read as intended is not used: the COPY stays as written, its names unknown', () => {
    const r = one('COPY t TO STDOUT ( /* why */ FORMAT csv)');
    assert.equal(r.rewritten, null);
    assert.equal(r.plan?.header, 'none');
    assert.equal(r.plan?.names, null);
  });

  test('only COPY … TO STDOUT statements are planned, in order', () => {
    const r = planCopyOut("COPY t FROM STDIN; COPY t TO '/tmp/x'; COPY t TO PROGRAM 'cat'; COPY a (x) TO STDOUT; COPY b (y) TO STDOUT CSV", true);
    assert.deepEqual(r.plans.map((p) => p.names), [['x'], ['y']]);
    assert.deepEqual(planCopyOut('COPY t TO STDOUT; selec', true).plans, [], 'unparseable text plans nothing');
  });
});
