/**
 * The extended-protocol tracker, frame by frame and without sockets: which statement each answer
 * belongs to, what a failure skips, and what the name tables hold afterwards.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Expectation, ExtendedTracker, Kind } from '../../../src/adapters/postgres/extended-tracker.ts';
import type { ForwardResult } from '../../../src/adapter-contract.ts';
import type { BindMessage } from '../../../src/adapters/postgres/codec.ts';
import type { SqlFacts } from '../../../src/interaction.ts';

const FACTS: SqlFacts = { text: 'SELECT 1', kinds: ['select'], tables: [], hasWhere: true, functions: [], multiStatement: false, parseError: null, flags: {} };
const COLUMNS = { names: ['a'], formats: [0] };

function bind(statement: string, portal = ''): BindMessage {
  return { type: 'bind', portal, statement, params: [], paramFormats: [], resultFormats: [], raw: Buffer.alloc(12) } as unknown as BindMessage;
}

/** A tracker whose answered statements report into `results`, as the socket session does. */
function tracked() {
  const results: ForwardResult[] = [];
  const tracker = new ExtendedTracker((e) => e.report());
  const statement = (kind: Kind.Execute | Kind.Query) => {
    const e = tracker.expect(new Expectation(kind));
    e.done = (r) => results.push(r);
    return e;
  };
  return { tracker, results, statement };
}

describe('ExtendedTracker', () => {
  it('Parse, Bind, Execute, Sync: each answer settles its own message and the Execute reports once', () => {
    const { tracker, results, statement } = tracked();
    tracker.parse('s1', { sql: 'SELECT 1', facts: FACTS, columns: null });
    tracker.bind(bind('s1', 'p1'));
    const exec = statement(Kind.Execute);
    tracker.expect(new Expectation(Kind.Sync));

    tracker.parseComplete();
    tracker.bindComplete();
    assert.equal(tracker.statements.get('s1')?.sql, 'SELECT 1');
    assert.ok(tracker.portals.get('p1'));
    assert.equal(tracker.front(), exec);
    exec.command = 'SELECT 1';
    tracker.resultEnd(exec);
    assert.equal(results.length, 1);
    assert.deepEqual(JSON.parse(results[0]!.responseBody!), { command: 'SELECT 1', rows: 0 });
    tracker.readyForQuery('I');
    assert.equal(tracker.pending, 0);
    assert.equal(tracker.portals.get('p1'), undefined, 'portals outside a transaction end at ReadyForQuery');
    assert.equal(results.length, 1, 'reported exactly once');
  });

  it('portals survive a ReadyForQuery inside a transaction, as a driver fetching a cursor in batches needs', () => {
    const { tracker } = tracked();
    tracker.parse('', { sql: 'SELECT 1', facts: FACTS, columns: null });
    tracker.bind(bind('', 'cursor'));
    tracker.expect(new Expectation(Kind.Sync));
    tracker.parseComplete();
    tracker.bindComplete();
    tracker.readyForQuery('T');
    assert.ok(tracker.portals.get('cursor'), 'still there in the transaction');
    tracker.expect(new Expectation(Kind.Sync));
    tracker.readyForQuery('I');
    assert.equal(tracker.portals.get('cursor'), undefined, 'gone once the transaction ended');
  });

  it('an error skips everything up to Sync: the skipped Execute is reported as skipped, the failed Parse undone', () => {
    const { tracker, results, statement } = tracked();
    const parse = tracker.parse('s1', { sql: 'SELEC 1', facts: FACTS, columns: null });
    tracker.bind(bind('s1'));
    const exec = statement(Kind.Execute);
    tracker.expect(new Expectation(Kind.Sync));

    tracker.error(parse);
    assert.equal(tracker.statements.get('s1'), undefined, 'a failed Parse leaves no statement');
    assert.equal(results.length, 1);
    assert.equal(results[0]!.skipped, true);
    assert.equal(results[0]!.upstreamError, null);
    assert.equal(tracker.front()?.kind, Kind.Sync);
    tracker.readyForQuery('I');
    assert.equal(tracker.pending, 0);
    assert.equal(exec.done, null);
  });

  it('a failed Execute reports the database error as the upstream code', () => {
    const { tracker, results, statement } = tracked();
    const exec = statement(Kind.Execute);
    tracker.expect(new Expectation(Kind.Sync));
    exec.error = { code: '42P01', message: 'relation "nope" does not exist' };
    tracker.error(exec);
    assert.deepEqual(results[0]!.upstreamError, { code: '42P01', message: 'relation "nope" does not exist' });
    assert.equal(results[0]!.skipped, false);
  });

  it('a simple Query waits for ReadyForQuery, even after its error', () => {
    const { tracker, results, statement } = tracked();
    const q = statement(Kind.Query);
    q.error = { code: '22012', message: 'division by zero' };
    tracker.error(q);
    assert.equal(results.length, 0, 'not before ReadyForQuery');
    tracker.readyForQuery('I');
    assert.equal(results.length, 1);
    assert.equal(results[0]!.upstreamError?.code, '22012');
  });

  it('a refused Execute stand-in skips to Sync like the failure it stands for', () => {
    const { tracker, results, statement } = tracked();
    const refused = tracker.expect(new Expectation(Kind.RefusedExecute));
    const after = statement(Kind.Execute);
    tracker.expect(new Expectation(Kind.Sync));
    tracker.error(refused);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.skipped, true);
    assert.equal(after.done, null);
    assert.equal(tracker.front()?.kind, Kind.Sync);
  });

  it('a Describe remembers the columns for the statement; NoData ends a Describe without them', () => {
    const { tracker } = tracked();
    tracker.parse('s1', { sql: 'SELECT 1', facts: FACTS, columns: null });
    tracker.describe('S', 's1');
    tracker.describe('S', 'missing');
    tracker.parseComplete();
    assert.equal(tracker.rowDescription(() => COLUMNS), undefined, 'a Describe answer is consumed by the tracker');
    assert.deepEqual(tracker.statements.get('s1')?.columns, COLUMNS);
    tracker.noData();
    assert.equal(tracker.pending, 0);
  });

  it('a RowDescription at the head of a result is handed back for masking', () => {
    const { tracker, statement } = tracked();
    const q = statement(Kind.Query);
    assert.equal(tracker.rowDescription(() => COLUMNS), q);
  });

  it('a reused statement name is the merge of old and new until the server answers', () => {
    const { tracker } = tracked();
    tracker.parse('s', { sql: 'SELECT 1', facts: FACTS, columns: null });
    tracker.parseComplete();
    const drop = { ...FACTS, text: 'DROP TABLE t', kinds: ['drop'] };
    const second = tracker.parse('s', { sql: 'DROP TABLE t', facts: drop, columns: null });
    assert.deepEqual([...tracker.statements.get('s')!.facts.kinds].sort(), ['drop', 'select']);
    tracker.error(second);
    assert.deepEqual(tracker.statements.get('s')!.facts.kinds, ['select'], 'the refused redefinition is undone');
  });

  it('a Bind of an unknown statement leaves no portal to execute', () => {
    const { tracker } = tracked();
    tracker.bind(bind('nope', 'p'));
    assert.equal(tracker.portals.get('p'), undefined);
  });

  it('drain() hands back what is still waiting, and reporting it marks it interrupted unless its error is known', () => {
    const { tracker, results, statement } = tracked();
    statement(Kind.Execute);
    const failed = statement(Kind.Query);
    failed.error = { code: '57014', message: 'canceling statement due to user request' };
    for (const e of tracker.drain()) e.report(true);
    assert.equal(results.length, 2);
    assert.equal(results[0]!.interrupted, true);
    assert.equal(results[1]!.upstreamError?.code, '57014');
    assert.equal(tracker.pending, 0);
  });
});
