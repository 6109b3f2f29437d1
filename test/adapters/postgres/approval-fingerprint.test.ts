/**
 * What a PostgreSQL approval binds to: the exact statement and parameters as they go to the
 * database, not the abridged copy the draft shows (SQL clipped at 64 KiB for scanning, binary
 * parameters by size, long ones clipped). Two statements that only look the same never share an
 * approval; the same statement sent again does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serialize } from 'pg-protocol';
import { approvalRequest } from '../../../src/approvals/request.ts';
import type { RequestDraft, Session } from '../../../src/adapter-contract.ts';
import type { Decision } from '../../../src/interaction.ts';
import { classifySql } from '../../../src/classify/sql.ts';
import { ExtendedTracker } from '../../../src/adapters/postgres/extended-tracker.ts';
import { executeDraft, MAX_SCANNED_CHARS, queryDraft } from '../../../src/adapters/postgres/to-interaction.ts';
import { FrontendParser, type BindMessage, type FrontendMessage } from '../../../src/adapters/postgres/codec.ts';

const SESSION = {
  auth: { principal: { id: 'usr_1', name: 'ada' }, credential: { tokenId: 'tok_1', name: 'agent' } },
  connection: { name: 'prod-db' },
} as unknown as Session;
const DECISION = { action: 'approve', rule: 'r', approvers: ['dba'], required: 1, timeoutMs: 60_000, waitMs: 60_000 } as unknown as Extract<Decision, { action: 'approve' }>;

const fingerprintOf = (draft: RequestDraft) => approvalRequest(SESSION, DECISION, draft, { ...draft.summary, entities: [] } as never, (t) => t).fingerprint;
const query = (sql: string) => fingerprintOf(queryDraft(sql, classifySql(sql), sql.length));

/** The Bind the codec reads from these wire bytes, as the gateway would. */
function bindOf(values: (Buffer | string | null)[]): BindMessage {
  const parser = new FrontendParser();
  parser.startupDone();
  const out: FrontendMessage[] = [];
  parser.push(serialize.bind({ values }), (m) => out.push(m));
  const bind = out.find((m) => m.type === 'bind');
  assert.ok(bind, 'a Bind was read');
  return bind as BindMessage;
}

function execute(sql: string, values: (Buffer | string | null)[], paramTypes: number[] = []): string {
  const tracker = new ExtendedTracker(() => undefined);
  tracker.parse('', { sql, facts: classifySql(sql), paramTypes, columns: null });
  tracker.bind(bindOf(values));
  const portal = tracker.portals.get('')!;
  return fingerprintOf(executeDraft(portal, portal.statement.facts, 0));
}

test('the same statement and parameters match their approval', () => {
  assert.equal(query('delete from orders where id = 1'), query('delete from orders where id = 1'));
  assert.equal(execute('delete from orders where id = $1', ['1']), execute('delete from orders where id = $1', ['1']));
  assert.equal(execute('delete from t where k = $1', [Buffer.from([0, 0, 0, 7])]), execute('delete from t where k = $1', [Buffer.from([0, 0, 0, 7])]));
});

test('hostile: statements alike in their first 64 KiB and different after it do not share an approval', () => {
  const head = `delete from orders where note = '${'x'.repeat(MAX_SCANNED_CHARS)}'`;
  const [narrow, wide] = [' and id = 1', ' or id != 1'];
  assert.equal(narrow.length, wide.length, 'the clipped copies are identical');
  assert.equal(queryDraft(`${head}${narrow}`, classifySql('select 1'), 0).target, queryDraft(`${head}${wide}`, classifySql('select 1'), 0).target);
  assert.notEqual(query(`${head}${narrow}`), query(`${head}${wide}`));
});

test('hostile: binary parameters of the same length but other bytes do not share an approval', () => {
  assert.notEqual(execute('delete from t where k = $1', [Buffer.from([0, 0, 0, 7])]), execute('delete from t where k = $1', [Buffer.from([0, 0, 0, 8])]));
});

test('hostile: long parameters alike in their first 64 KiB do not share an approval', () => {
  const head = 'y'.repeat(MAX_SCANNED_CHARS);
  assert.notEqual(execute('update t set v = $1 where id = 1', [`${head}a`]), execute('update t set v = $1 where id = 1', [`${head}b`]));
});

test('hostile: NULL, the text "null", an empty string, and a parameter moved between positions are all different', () => {
  const sql = 'update t set a = $1, b = $2 where id = 1';
  const prints = [execute(sql, [null, 'x']), execute(sql, ['null', 'x']), execute(sql, ['', 'x']), execute(sql, ['x', null]), execute(sql, ['x', ''])];
  assert.equal(new Set(prints).size, prints.length);
});

test('hostile: the same text with other declared parameter types is another statement', () => {
  assert.notEqual(execute('select f($1)', ['1'], [23]), execute('select f($1)', ['1'], [25]));
});

test('a simple Query and an Execute of the same text are different requests', () => {
  assert.notEqual(query('delete from orders where id = 1'), execute('delete from orders where id = 1', []));
});
