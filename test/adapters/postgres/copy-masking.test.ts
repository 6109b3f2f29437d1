/**
 * COPY … TO STDOUT through the gateway with a real PostgreSQL, psql and the pg driver: under a
 * profile every record is masked by column and content, and whatever masking leaves alone arrives
 * exactly as the database sent it (compared with the same COPY run straight on the database).
 * What cannot be masked (binary, another encoding) is refused before it runs; unmasked COPY is untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { startPgGateway, recordedSessions, eventually, type PgGateway } from './fixture.ts';

const SSN = '123-45-6789';
const SSN2 = '987-65-4321';
const EMAIL = 'ada.lovelace@example.org';
const AWS = 'AKIAIOSFODNN7EXAMPLE';

const POLICY = `
policy:
  rules:
    - name: people-masked
      match: { interactions: [sql.query] }
      when: "'people' in request.sql.tables"
      action: allow
      mask: people-data
    - name: allow-the-rest
      action: allow
masking:
  profiles:
    people-data:
      entities: { email: redact, secret: redact }
      columns: [ssn]
`;

/** Column order of `people`; ssn is masked by name, email and note by content. */
const COLUMNS = ['id', 'name', 'ssn', 'email', 'note', 'odd,col'];

describe('postgres adapter: COPY … TO STDOUT masked record by record', () => {
  let g: PgGateway;
  let token: string;

  /** psql straight to the database: what the client would get without the gateway. */
  const direct = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(join(g.binDir, 'psql'), ['-X', g.db.url, ...args], { env: { PATH: process.env.PATH, PGCLIENTENCODING: 'UTF8' } }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      );
    });
  const gateway = async (args: string[]): Promise<string> => {
    const r = await g.psql(token, args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
    token = await g.token();
    const c = await g.direct();
    await c.query(`create table people (id int, name text, ssn text, email text, note text, "odd,col" text)`);
    await c.query(`insert into people values
      (1, 'Ada', '${SSN}', '${EMAIL}', E'tab\\there, "quoted"', 'x'),
      (2, 'Bob "the" Builder', null, 'bob@example.com', E'line1\\nline2\\r\\nline3', 'a,b'),
      (3, E'back\\\\slash \\\\N', '${SSN2}', null, 'unicode ünïcødé 漢字 😀 ${AWS}', E'\\\\N'),
      (4, '', null, null, '', null)`);
    await c.query('create table orders (id int, total numeric, label text)');
    await c.query(`insert into orders values (1, 10.5, E'a\\tb'), (2, null, 'ops@example.com')`);
  });
  after(() => g?.close());

  /** Text-format lines split into fields (escapes left as they are: \t inside a value is two characters). */
  const textRows = (out: string) => out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));

  test('text format through psql: ssn by column, emails and keys by content, every other field byte for byte', async () => {
    for (const sql of ['COPY people TO STDOUT', 'copy people to stdout -- no header asked for', 'COPY (SELECT * FROM people ORDER BY id) TO STDOUT']) {
      const masked = textRows(await gateway(['-c', sql]));
      const raw = textRows(await direct(['-c', 'COPY (SELECT * FROM people ORDER BY id) TO STDOUT']));
      masked.sort((a, b) => Number(a[0]) - Number(b[0]));
      assert.equal(masked.length, 4, `${sql}: four rows and no header`);
      for (let r = 0; r < raw.length; r++) {
        for (let i = 0; i < COLUMNS.length; i++) {
          const column = COLUMNS[i];
          if (column === 'ssn') assert.equal(masked[r]![i], raw[r]![i] === '\\N' ? '\\N' : '[REDACTED]', `${sql} row ${r} ssn`);
          else if (column === 'email' && raw[r]![i] !== '\\N') assert.equal(masked[r]![i], '[EMAIL]');
          else if (column === 'note' && r === 2) assert.equal(masked[r]![i], 'unicode ünïcødé 漢字 😀 [AWS_ACCESS_KEY]');
          else assert.equal(masked[r]![i], raw[r]![i], `${sql} row ${r} column ${column} is untouched`);
        }
      }
      const all = masked.flat().join('\n');
      for (const secret of [SSN, SSN2, EMAIL, 'bob@example.com', AWS]) assert.ok(!all.includes(secret), `${sql}: ${secret} never arrives`);
    }
  });

  test('psql \\copy and CSV with HEADER: the header is the database\'s, quoting and embedded newlines survive', async () => {
    const csv = await gateway(['-c', 'COPY (SELECT * FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)']);
    const raw = await direct(['-c', 'COPY (SELECT * FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)']);
    assert.ok(csv.startsWith('id,name,ssn,email,note,"odd,col"\n'), 'the client asked for the header: it gets it');
    // what masking changed is exactly the masked values; everything else is the database's bytes
    const expected = raw
      .replace(SSN, '"[REDACTED]"')
      .replace(SSN2, '"[REDACTED]"')
      .replace(EMAIL, '"[EMAIL]"')
      .replace('bob@example.com', '"[EMAIL]"')
      .replace(`unicode ünïcødé 漢字 😀 ${AWS}`, '"unicode ünïcødé 漢字 😀 [AWS_ACCESS_KEY]"');
    assert.equal(csv, expected);
    const copied = await gateway(['-c', '\\copy (select id, ssn, note from people order by id) to stdout csv']);
    assert.ok(!copied.includes(SSN) && !copied.includes(AWS));
    assert.match(copied, /^1,"\[REDACTED\]","tab\there, ""quoted"""\n2,,"line1\nline2\r\nline3"\n/);
    const textCopy = await gateway(['-c', '\\copy people (id, ssn) to stdout']);
    assert.deepEqual(textRows(textCopy).map((r) => r[1]).sort(), ['[REDACTED]', '[REDACTED]', '\\N', '\\N']);
  });

  test('several COPYs in one query, column lists, custom delimiters, quotes and NULL strings', async () => {
    const out = await gateway([
      '-c',
      `COPY people (ssn, id) TO STDOUT; COPY (SELECT id, ssn, email FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NULL', FORCE_QUOTE *)`,
    ]);
    assert.ok(!out.includes(SSN) && !out.includes(EMAIL));
    const lines = out.split('\n');
    assert.deepEqual(lines.slice(0, 4).sort(), ['[REDACTED]\t1', '[REDACTED]\t3', '\\N\t2', '\\N\t4']);
    assert.deepEqual(lines.slice(4, 8), ["'1';'[REDACTED]';'[EMAIL]'", "'2';NULL;'[EMAIL]'", "'3';'[REDACTED]';NULL", "'4';NULL;NULL"]);
  });

  test('the pg driver gets masked CopyData, record per message as the database sent it', async () => {
    const c = await g.client(token);
    const chunks: Buffer[] = [];
    // pg's Query ignores CopyData; a subclass sees each message as the driver receives it
    const Query = (pg as unknown as { Query: new (text: string) => { on(event: string, f: (arg?: unknown) => void): void } }).Query;
    class CopyQuery extends Query {
      handleCopyData(msg: { chunk: Buffer }) {
        chunks.push(msg.chunk);
      }
    }
    const q = new CopyQuery('COPY (SELECT id, ssn, note FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv)');
    const done = new Promise<void>((resolve, reject) => {
      q.on('end', () => resolve());
      q.on('error', reject);
    });
    c.query(q as any);
    await done;
    assert.equal(chunks.length, 4, 'one CopyData per record: the header the gateway added is dropped, not sent empty');
    const text = Buffer.concat(chunks).toString('utf8');
    assert.ok(text.startsWith('1,"[REDACTED]","tab\there, ""quoted"""\n'), text);
    assert.ok(!text.includes(SSN) && !text.includes(AWS));
    // the session goes on normally
    assert.deepEqual((await c.query('select count(*)::int as n from people')).rows, [{ n: 4 }]);
  });

  test('through the extended protocol: a column list or HEADER names the columns, otherwise the output is withheld', async () => {
    const c = await g.client(token);
    const copy = async (name: string, text: string) => {
      const chunks: Buffer[] = [];
      const Query = (pg as unknown as { Query: new (config: object) => { on(event: string, f: (arg?: unknown) => void): void } }).Query;
      class CopyQuery extends Query {
        handleCopyData(msg: { chunk: Buffer }) {
          chunks.push(msg.chunk);
        }
      }
      // a named query makes the driver Parse, Bind and Execute
      const q = new CopyQuery({ name, text });
      await new Promise<void>((resolve, reject) => {
        q.on('end', () => resolve());
        q.on('error', reject);
        c.query(q as any);
      });
      return Buffer.concat(chunks).toString('utf8');
    };
    assert.deepEqual(textRows(await copy('named', 'COPY people (id, ssn) TO STDOUT')).map((r) => r[1]), ['[REDACTED]', '\\N', '[REDACTED]', '\\N']);
    assert.match(await copy('headed', 'COPY (SELECT ssn FROM people ORDER BY id) TO STDOUT CSV HEADER'), /^ssn\n"\[REDACTED\]"\n\n"\[REDACTED\]"\n\n$/);
    await assert.rejects(copy('unnamed', 'COPY people TO STDOUT'), (err: any) => err.code === 'XX000' && /cannot be named/.test(err.message));
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  test('binary format and other encodings are refused before the COPY runs; the session goes on', async () => {
    const c = await g.client(token);
    for (const sql of ['COPY people TO STDOUT (FORMAT binary)', 'COPY people TO STDOUT BINARY', "COPY people TO STDOUT (ENCODING 'LATIN1')", 'COPY people TO STDOUT (HEADER false)']) {
      await assert.rejects(c.query(sql), (err: any) => {
        assert.equal(err.code, 'XX000', sql);
        assert.match(err.detail ?? '', /masking_failed/);
        return true;
      });
    }
    const r = await g.psql(token, ['-c', 'COPY people TO STDOUT (FORMAT binary)']);
    assert.notEqual(r.code, 0);
    assert.ok(!r.stdout.includes(SSN));
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  test('without a profile COPY is not touched: no HEADER is added, bytes are the database\'s', async () => {
    for (const sql of ['COPY orders TO STDOUT', 'COPY orders TO STDOUT (FORMAT csv)']) {
      assert.equal(await gateway(['-c', sql]), await direct(['-c', sql]));
    }
  });

  test('the raw values never reach the recording or the logs; the record holds the statement as the client sent it', async () => {
    await gateway(['-c', 'COPY people TO STDOUT']);
    const done = (sessions: { interactions: any[] }[]) => sessions.some((s) => s.interactions.some((i) => i.target === 'COPY people TO STDOUT' && i.completedAt !== null));
    await eventually(async () => done(await recordedSessions(g.t)), 5000, 'the COPY recorded');
    const sessions = await recordedSessions(g.t);
    const recorded = JSON.stringify(sessions);
    for (const secret of [SSN, SSN2, EMAIL, AWS]) {
      assert.ok(!recorded.includes(secret), `${secret} not recorded`);
      assert.ok(!g.t.logs.join('').includes(secret), `${secret} not logged`);
    }
    const copy = sessions.flatMap((s) => s.interactions).find((i) => i.target === 'COPY people TO STDOUT');
    assert.ok(copy);
    assert.equal(copy.rule, 'people-masked');
    assert.match(copy.responseBody ?? '', /"command":"COPY 4"/);
  });
});
