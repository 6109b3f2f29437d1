/**
 * The per-request scan budget on the PostgreSQL protocol, with a real database and the pg driver
 * (issue 19, item 3): a result whose rows together need more scanning than `maxRequestScanBytes`
 * ends in masking_failed, however small each row is; rows past the budget are withheld, and the
 * session goes on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPgGateway, type PgGateway } from '../adapters/postgres/fixture.ts';

const POLICY = `
policy:
  rules:
    - name: notes-masked
      match: { interactions: [sql.query] }
      action: allow
      mask: tight
masking:
  profiles:
    tight:
      entities: { secret: redact, email: redact }
      maxRequestScanBytes: 20000
`;

describe('the per-request scan budget on the PostgreSQL protocol', () => {
  let g: PgGateway;
  let token: string;

  before(async () => {
    g = await startPgGateway({ policyYaml: POLICY });
    token = await g.token();
    const c = await g.direct();
    await c.query('create table notes (id int, body text)');
    // 400 rows of about 100 bytes: each far under every per-value limit, 40 KB together.
    await c.query(`insert into notes select i, 'note ' || i || ' for ada' || i || '@example.org ' || repeat('x', 60) from generate_series(1, 400) i`);
    await c.end();
  });

  after(async () => {
    await g.close();
  });

  it('a result within the budget is masked row by row', async () => {
    const c = await g.client(token);
    const r = await c.query('select body from notes where id <= 10 order by id');
    assert.equal(r.rows.length, 10);
    assert.match(r.rows[0].body, /^note 1 for \[EMAIL\] x+$/);
  });

  it('a result over the budget ends in masking_failed: rows past the budget are withheld, never sent unmasked', async () => {
    const c = await g.client(token);
    await assert.rejects(c.query('select body from notes order by id'), (err: Error) => /maxRequestScanBytes/.test(err.message));
    // The next statement has a budget of its own, and the session goes on.
    const again = await c.query('select count(*)::int as n from notes');
    assert.equal(again.rows[0].n, 400);
  });

  it('many small statements each get their own budget', async () => {
    const c = await g.client(token);
    for (let i = 0; i < 5; i++) {
      const r = await c.query('select body from notes where id <= 100 order by id');
      assert.equal(r.rows.length, 100);
    }
  });
});
