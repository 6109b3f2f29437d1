import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlClassifier } from '../../../src/classify/sql.ts';
import { classifyText } from '../../../src/classify/sql/classify-text.ts';
import { sqlStatementNames } from '../../../src/classify/sql/facts.ts';
import { sqlFingerprint } from '../../../src/classify/sql/fingerprint.ts';
import type { SqlFacts } from '../../../src/interaction.ts';
import { seededRandom } from '../../support/prng.ts';

/** Pairs that differ only in literal values of the same type: one shape. */
const sameShape: readonly (readonly [string, string])[] = [
  ['SELECT abalance FROM pgbench_accounts WHERE aid = 12345;', 'SELECT abalance FROM pgbench_accounts WHERE aid = 7;'],
  ['UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 67890;', 'UPDATE pgbench_accounts SET abalance = abalance + -1 WHERE aid = 2;'],
  ["select * from t where name = 'alice'", "select * from t where name = ''"],
  ["select 'it''s'", "select 'plain'"],
  ["select 'a -- b'", "select 'x'"],
  ["select '/* not a comment'", "select 'x'"],
  ["select '; drop table t'", "select 'x'"],
  ["select '$1', '$$'", "select 'x', 'y'"],
  ["select '\"'", "select 'x'"],
  ['select 1.5', 'select 0.25'],
  ['select 2147483647', 'select 0000000000042'],
  ['select 2147483648', 'select 99999999999999999999'],
  ['delete from t where 1 = 2', 'delete from t where 1 = 1'],
  ["delete from t where 'a' = 'b'", "delete from t where 'a' = 'a'"],
  ['select 1; select 2', 'select 3; select 4'],
  ["insert into t values (1, 'a'), (2, 'b')", "insert into t values (3, 'c'), (4, 'd')"],
  // text between two strings is kept, so a continuation ('a'\n'b' is one string) is kept too
  ["select 'a'\n'b'", "select 'c'\n'd'"],
  ['select 1 -- 2\n, 3', 'select 4 -- 2\n, 5'],
  ['select 1 /* 2 /* nested */ 3 */, 4', 'select 5 /* 2 /* nested */ 3 */, 6'],
  ['select x from t1 where x_2 = $1 and a$1 = 5', 'select x from t1 where x_2 = $1 and a$1 = 6'],
];

/** Pairs that must never share: anything but a literal's value differs. */
const differentShape: readonly (readonly [string, string])[] = [
  ['delete from t where id = 1', 'delete from u where id = 1'],
  ['select * from t where a = 1', 'select * from t where a > 1'],
  ['select * from t where a = 1', "select * from t where a = '1'"],
  ['select * from t where a in (1, 2)', 'select * from t where a in (1, 2, 3)'],
  ['select 2147483647', 'select 2147483648'],
  ['select 1', 'select 1.0'],
  ['select -1', 'select 1'],
  ['select 1 -- 2', 'select 1 -- 3'],
  ['select 1 /* 2 */', 'select 1 /* 3 */'],
  ['select "1"', 'select "2"'],
  ['select $1', 'select $2'],
  ['select t1', 'select t2'],
  ['select 1; select 2', 'select 1; delete from t'],
  ['select 1::float(10)', 'select 1::float(0)'],
  ['select 1::FLOAT /* why */ (30)', 'select 1::FLOAT /* why */ (60)'],
  // a comment marker inside a string is the string's, and a quote inside a comment is the comment's
  ["select '/*', 1 /* ' */", "select '/*', 1 /* x */"],
  ["select 1 -- '\n; delete from t -- '", "select 1 -- 'x'\n; delete from t -- 'y'"],
];

/** Texts whose lexing the single pass is not sure of: no shape, cached by exact text only. */
const unsure: readonly string[] = [
  "select E'\\x41'",
  "select e'a'",
  "select U&'\\0041'",
  "select * from U&\"d!0061ta\" UESCAPE '!'",
  "select B'101', X'1F'",
  "select N'abc'",
  "select 'a\\'; drop table t; --'",
  'select $$ drop table t $$',
  'select $tag$ x $tag$',
  'select 0x1F',
  'select 0o17',
  'select 0b101',
  'select 1_000',
  'select 1e5',
  'select 1.5e3',
  'select .5',
  'select 1.',
  'select 1..2',
  'select t.5',
  'select 123abc',
  'select $1abc',
  "select 'unterminated",
  'select "unterminated',
  'select 1 /* unterminated',
  "select 'café'",
  'select * from ユーザー',
  'select 1\u000b',
  'select 1\0',
];

describe('sqlFingerprint', () => {
  for (const [a, b] of sameShape) {
    it(`${JSON.stringify(a)} has the shape of ${JSON.stringify(b)}`, () => {
      const shape = sqlFingerprint(a);
      assert.notEqual(shape, null);
      assert.equal(sqlFingerprint(b), shape);
    });
  }

  for (const [a, b] of differentShape) {
    it(`${JSON.stringify(a)} and ${JSON.stringify(b)} differ`, () => {
      assert.notEqual(sqlFingerprint(a), null);
      assert.notEqual(sqlFingerprint(b), null);
      assert.notEqual(sqlFingerprint(a), sqlFingerprint(b));
    });
  }

  for (const sql of unsure) {
    it(`gives up on ${JSON.stringify(sql)}`, () => {
      assert.equal(sqlFingerprint(sql), null);
    });
  }

  it('keeps a text without literals as it is', () => {
    const sql = 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2';
    assert.equal(sqlFingerprint(sql), sql);
  });
});

/** Templates whose slots take any fragment below: literals, and pieces that only look like them. */
const TEMPLATES: readonly string[] = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = ?;',
  'UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;',
  'select ? from t where a = ?',
  'select a from t where a in (?)',
  'delete from t where ? = ?',
  'delete from t where a = ? or ? = ?',
  'update t set a = ? where ? = ?',
  'merge into t using s on ? = ? when matched then delete',
  'insert into t (a, b) values (?, ?)',
  'select ?; delete from t where a = ?',
  'select * from t limit ?',
  'select ?::float(?)',
  'select set_config(?, ?, false)',
  'set work_mem = ?',
  'set role ?',
  'select pg_sleep(?)',
  'prepare p as select ? from t; execute p(?)',
  'copy t to ?',
  'do ?',
  'select ? -- ?\n, ?',
  'select ? /* ? */, ?',
  'select ?\n?',
  'select ? ?',
  'fetch ? from c',
];

const FRAGMENTS: readonly string[] = [
  '0', '1', '7', '42', '007', '2147483647', '2147483648', '99999999999', '-5', '- 5', '1.5', '0.0', '10.25',
  "''", "'a'", "'b'", "'it''s'", "'-- x'", "'/* y'", "'*/'", "';'", "'$1'", "'$$'", "'\"'", "'1 = 1'",
  "'role'", "'work_mem'", "'/tmp/f'", "'program'", "'drop table t'", "'a' 'b'", "'a'\n'b'",
  'a', 'b', 't1', '"q 1"', '$1', '$2', 'true', 'false', 'null', 'all', '(1)', '1, 2', '1, 2, 3', 'stdout',
  "E'x'", '$$x$$', '1e5', '0x1F', '.5', '1_0', "U&'x'", '/* 1 */', '-- 1\n', "/* ' */", "1 /* ' */",
];

function generate(random: () => number): string {
  const template = TEMPLATES[Math.floor(random() * TEMPLATES.length)]!;
  return template.replace(/\?/g, () => FRAGMENTS[Math.floor(random() * FRAGMENTS.length)]!);
}

/** What the cache shares: everything but the text. */
function shared(facts: SqlFacts): unknown {
  return { ...facts, text: null, names: sqlStatementNames(facts) };
}

describe('texts of one shape classify alike (seeded fuzz)', () => {
  before(async () => {
    await initSqlClassifier();
  });

  it('gives equal facts, apart from the text, whenever two texts share a fingerprint', () => {
    const random = seededRandom(0x5eed);
    const texts = [...new Set(Array.from({ length: 3000 }, () => generate(random)))];
    const byShape = new Map<string, string[]>();
    for (const text of texts) {
      const shape = sqlFingerprint(text);
      if (shape !== null) byShape.set(shape, [...(byShape.get(shape) ?? []), text]);
    }
    let compared = 0;
    let parsed = 0;
    for (const group of byShape.values()) {
      const [first, ...rest] = group.map((text) => classifyText(text));
      for (const other of rest) {
        compared++;
        const context = `${JSON.stringify(first!.facts.text)} vs ${JSON.stringify(other.facts.text)}`;
        assert.equal(other.facts.parseError === null, first!.facts.parseError === null, `both parse or neither: ${context}`);
        // facts that read a literal's value hold for their own text only, and are never shared
        if (first!.facts.parseError === null && !first!.readsLiterals) {
          assert.deepEqual(shared(other.facts), shared(first!.facts), context);
          parsed++;
        }
        assert.equal(other.readsLiterals, first!.readsLiterals, context);
      }
    }
    assert.ok(compared >= 500 && parsed >= 200, `compared ${compared} pairs of one shape, ${parsed} of them parsed`);
    const shapes = [...byShape.keys()];
    assert.equal(new Set(shapes).size, shapes.length);
    assert.ok(texts.length - [...byShape.values()].flat().length > 100, 'many texts have no shape, and are not compared');
  });
});
