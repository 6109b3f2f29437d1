import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compilePolicy } from '../../src/policy/compile.ts';
import { PolicyReplay, replayFails, type ReplayRecord } from '../../src/policy/replay.ts';
import { formatReplayReport } from '../../src/policy/replay-report.ts';
import { loadCandidate, parseExamples, parseFailOn, replayRange } from '../../src/cli/policy-replay.ts';

const T0 = Date.parse('2026-12-01T08:00:00Z');
let seq = 0;

/** A recorded request as the store gives it back; every field may be overridden, including with nonsense. */
function rec(over: Partial<Omit<ReplayRecord, 'principal' | 'connection'>> & { who?: string; groups?: string[] | null; connection?: string; tags?: string[] | null } = {}): ReplayRecord {
  const { who = 'alice', groups = ['eng'], connection = 'openai', tags = ['llm'], ...rest } = over;
  seq++;
  return {
    id: `int_${String(seq).padStart(4, '0')}`,
    startedAt: T0 + seq * 1000,
    kind: 'llm.chat',
    decision: 'allow',
    rule: 'allow-all',
    method: 'POST',
    target: '/v1/chat/completions',
    model: 'gpt-4o',
    summary: { llm: { model: 'gpt-4o', stream: false, toolNames: [], maxTokens: null, estimatedInputTokens: 3 }, entities: [] },
    principal: { id: `usr_${who}`, name: who, groups },
    connection: { name: connection, type: tags === null ? null : 'openai', tags },
    grants: null,
    ...rest,
  };
}

const sqlRec = (kinds: string[], tables: string[], over: Parameters<typeof rec>[0] = {}) =>
  rec({
    kind: 'sql.query',
    method: null,
    model: null,
    target: `${kinds[0]} … ${tables.join(', ')}`,
    connection: 'prod-db',
    tags: ['prod'],
    summary: { sql: { kinds, tables, hasWhere: true, functions: [], multiStatement: false, parseError: null, flags: {} }, entities: [] },
    ...over,
  });

const replayOf = (rules: unknown[], records: ReplayRecord[], mask = (t: string) => t) => {
  const replay = new PolicyReplay(compilePolicy({ rules }), { examples: 5, mask });
  for (const r of records) replay.add(r);
  return replay.report();
};

describe('policy replay over records', () => {
  it('finds exactly the requests a new deny rule flips, attributed to it', () => {
    const hit = rec({ model: 'gpt-4o' });
    const records = [hit, rec({ model: 'gpt-4o-mini', summary: { llm: { model: 'gpt-4o-mini' }, entities: [] } }), rec({ who: 'bob', groups: ['ops'] })];
    const report = replayOf(
      [
        { name: 'no-gpt4o-for-eng', match: { groups: ['eng'], interactions: ['llm.chat'] }, when: "request.llm.model == 'gpt-4o'", action: 'deny' },
        { name: 'allow-all', action: 'allow' },
      ],
      records,
    );
    assert.deepEqual(report.changes, { denied: 1, allowed: 0, held: 0, unheld: 0 });
    assert.equal(report.unchanged, 2);
    assert.equal(report.inexact, 0);
    assert.deepEqual(report.rules.map((r) => r.rule), ['no-gpt4o-for-eng']);
    assert.deepEqual(report.rules[0]!.examples.map((e) => e.id), [hit.id]);
    assert.deepEqual(report.rules[0]!.examples[0]!.was, { outcome: 'allow', rule: 'allow-all' });
    assert.deepEqual(report.rules[0]!.examples[0]!.now, { outcome: 'deny', rule: 'no-gpt4o-for-eng' });
    assert.equal(replayFails(report, parseFailOn(undefined)), true);
    assert.equal(replayFails(report, parseFailOn('allowed,held')), false);
  });

  it('finds denied → allowed when a deny rule is dropped, and newly held / no longer held', () => {
    const deleted = sqlRec(['delete'], ['orders'], { decision: 'deny', rule: 'no-delete' });
    const dropped = sqlRec(['drop'], ['orders'], { decision: 'deny', rule: 'no-drop' });
    const select = sqlRec(['select'], ['orders'], { rule: 'read' });
    const held = sqlRec(['update'], ['orders'], { decision: 'approve', rule: 'writes-need-approval' });
    const report = replayOf(
      [
        { name: 'no-drop', match: { interactions: ['sql.query'] }, when: "'drop' in request.sql.kinds", action: 'deny' },
        { name: 'select-orders-held', match: { interactions: ['sql.query'] }, when: "'orders' in request.sql.tables && 'select' in request.sql.kinds", action: 'approve', approvers: ['dba'] },
        { name: 'sql', match: { interactions: ['sql.query'] }, action: 'allow' },
      ],
      [deleted, dropped, select, held],
    );
    assert.deepEqual(report.changes, { denied: 0, allowed: 1, held: 1, unheld: 1 });
    const byRule = Object.fromEntries(report.rules.map((r) => [r.rule, r]));
    assert.deepEqual(byRule.sql!.examples.map((e) => [e.id, e.change]), [[deleted.id, 'allowed'], [held.id, 'unheld']]);
    assert.deepEqual(byRule['select-orders-held']!.examples.map((e) => e.id), [select.id]);
    assert.equal(byRule['no-drop'], undefined, 'a rule that decides as before is not listed');
    assert.equal(report.unchanged, 1);
  });

  it('reports a rule reading an unrecorded fact as not replayable exactly, never as a change', () => {
    const records = [rec(), rec(), rec({ kind: 'http.request', summary: { http: { method: 'GET', path: '/x', query: '', headers: {} }, entities: [] } })];
    const report = replayOf(
      [
        { name: 'no-passwords', match: { interactions: ['llm.chat'] }, when: "request.llm.message_text.contains('password')", action: 'deny' },
        { name: 'pii-held', when: "'email' in request.entities", action: 'approve', approvers: ['sec'] },
        { name: 'allow-all', action: 'allow' },
      ],
      records,
    );
    assert.deepEqual(report.changes, { denied: 0, allowed: 0, held: 0, unheld: 0 });
    assert.equal(report.inexact, 3);
    const [text, entities] = report.rules;
    assert.equal(text!.rule, 'no-passwords');
    assert.equal(text!.inexact.count, 2);
    assert.match(text!.inexact.facts.join(), /message_text/);
    assert.equal(entities!.inexact.count, 3);
    assert.match(formatReplayReport(report, { from: T0, to: T0 + 1e6 }), /cannot be replayed exactly: 2 request/);
    assert.equal(replayFails(report, parseFailOn(undefined)), false, 'nothing changed for sure');
  });

  it('entities recorded non-empty are read as recorded', () => {
    const withEmail = rec({ summary: { llm: { model: 'gpt-4o' }, entities: ['email'] } });
    const report = replayOf([{ name: 'pii-held', when: "'email' in request.entities", action: 'approve', approvers: ['sec'] }, { name: 'allow-all', action: 'allow' }], [withEmail]);
    assert.equal(report.changes.held, 1);
    assert.equal(report.inexact, 0);
  });

  it('a principal or connection gone makes group and tag rules inexact; others still replay', () => {
    const gone = rec({ who: 'carol', groups: null });
    const goneConn = rec({ groups: ['ops'], connection: 'old', tags: null });
    const report = replayOf(
      [
        { name: 'eng-denied', match: { groups: ['eng'] }, action: 'deny' },
        { name: 'llm-tag', match: { connectionTags: ['llm'] }, action: 'allow' },
        { name: 'rest', action: 'deny' },
      ],
      [gone, goneConn],
    );
    assert.equal(report.inexact, 2);
    assert.deepEqual(report.rules.map((r) => [r.rule, r.inexact.count]), [['eng-denied', 1], ['llm-tag', 1]]);
  });

  it('a possible change counts for --fail-on inexact only', () => {
    const report = replayOf([{ name: 'no-text', when: "request.llm.message_text == ''", action: 'deny' }], [rec()]);
    assert.equal(report.possibleChanges.denied, 1);
    assert.equal(replayFails(report, parseFailOn(undefined)), false);
    assert.equal(replayFails(report, parseFailOn('denied,inexact')), true);
    assert.equal(replayFails(report, parseFailOn('none')), false);
  });

  it('masks every example line and strips control characters and long tails', () => {
    const secret = 'alice@example.com';
    const r = rec({ target: `/v1/chat?to=${secret}\u001b[31m\u202eevil${'x'.repeat(500)}` });
    const report = replayOf([{ name: 'deny-all', action: 'deny' }], [r], (t) => t.replaceAll(secret, '[EMAIL]'));
    const line = report.rules[0]!.examples[0]!.line;
    assert.ok(!line.includes(secret));
    assert.ok(!/[\u0000-\u001f\u202e]/.test(line));
    assert.ok(line.length <= 120);
    assert.match(line, /\[EMAIL\]/);
  });

  it('keeps at most --examples examples per rule while counting all', () => {
    const replay = new PolicyReplay(compilePolicy({ rules: [{ name: 'deny-all', action: 'deny' }] }), { examples: 2, mask: (t) => t });
    for (let i = 0; i < 1000; i++) replay.add(rec());
    const report = replay.report();
    assert.equal(report.changes.denied, 1000);
    assert.equal(report.rules[0]!.examples.length, 2);
  });
});

describe('policy replay: hostile records', () => {
  const engine = () =>
    new PolicyReplay(compilePolicy({ rules: [{ name: 'sql-select', match: { interactions: ['sql.query'] }, when: "'select' in request.sql.kinds", action: 'allow' }, { name: 'allow-llm', match: { interactions: ['llm.*'] }, action: 'allow' }] }), { mask: (t) => t });
  const odd: Array<[string, Parameters<typeof rec>[0], 'skipped' | 'replayed']> = [
    ['summary null', { summary: null }, 'replayed'],
    ['summary an array', { summary: [1, 2] }, 'replayed'],
    ['summary a string', { summary: 'select 1' }, 'replayed'],
    ['llm facts a number', { summary: { llm: 5 } }, 'replayed'],
    ['sql kinds a string', { kind: 'sql.query', summary: { sql: { kinds: 'select', tables: 'x' } } }, 'replayed'],
    ['entities a string', { summary: { llm: {}, entities: 'email' } }, 'replayed'],
    ['entities holding objects', { summary: { llm: {}, entities: [{}, null, 3] } }, 'replayed'],
    ['headers with non-strings', { kind: 'http.request', summary: { http: { method: 7, path: null, headers: { a: 1, b: ['x'] } } } }, 'replayed'],
    ['mcp arguments deep', { kind: 'mcp.tool_call', summary: { mcp: { tool: 'x', arguments: { a: { b: { c: [1, { d: 2 }] } } } } } }, 'replayed'],
    ['__proto__ in summary', { summary: JSON.parse('{"__proto__": {"llm": {"model": "x"}}, "llm": {"model": "gpt-4o"}}') }, 'replayed'],
    ['unknown kind', { kind: 'smtp.send' }, 'skipped'],
    ['kind without a family', { kind: 'llm' }, 'skipped'],
    ['decision not known', { decision: 'maybe' }, 'skipped'],
    ['decision empty', { decision: '' }, 'skipped'],
    ['refused before policy', { decision: 'deny', rule: null }, 'skipped'],
    ['principal id without prefix', { principal: { id: 'nobody', name: 'n', groups: [] } } as never, 'replayed'],
    ['principal id null', { principal: { id: null, name: 'anonymous', groups: null } } as never, 'replayed'],
    ['a start time far in the future', { startedAt: 8.64e15 }, 'replayed'],
  ];
  for (const [name, over, expected] of odd) {
    it(`${name}: ${expected}, nothing thrown`, () => {
      const replay = engine();
      replay.add(rec(over));
      const report = replay.report();
      assert.equal(expected === 'skipped' ? report.skipped.count : report.replayed, 1);
    });
  }

  it('a malformed sql summary is a gap, not a guess', () => {
    const report = replayOf([{ name: 'no-where', when: '!request.sql.has_where', action: 'deny' }, { name: 'rest', action: 'allow' }], [sqlRec(['delete'], ['t'], { summary: { sql: { kinds: ['delete'] }, entities: [] } })]);
    assert.equal(report.inexact, 1);
    assert.deepEqual(report.changes, { denied: 0, allowed: 0, held: 0, unheld: 0 });
  });

  it('an llm.other request without llm facts replays as recorded: a rule reading http facts is exact', () => {
    const models = rec({ kind: 'llm.other', method: 'GET', target: '/v1/models', model: null, summary: { http: { method: 'GET', path: '/v1/models', query: '', headers: {} }, entities: ['x'] } });
    const report = replayOf([{ name: 'no-listing', when: "request.http.path == '/v1/models'", action: 'deny' }, { name: 'rest', action: 'allow' }], [models]);
    assert.equal(report.inexact, 0);
    assert.equal(report.changes.denied, 1);
  });

  it('a missing summary family is a gap, not a guess', () => {
    const report = replayOf([{ name: 'sql-select', when: "'select' in request.sql.kinds", action: 'allow' }, { name: 'rest', action: 'deny' }], [sqlRec(['select'], ['t'], { summary: {} })]);
    assert.equal(report.inexact, 1);
    assert.match(report.rules[0]!.inexact.facts.join(), /summary is missing or malformed/);
  });
});

describe('policy replay: flags and candidate files', () => {
  const dir = mkdtemp(join(tmpdir(), 'gatehouse-replay-'));
  after(async () => rm(await dir, { recursive: true, force: true }));
  const now = T0;

  it('reads --since, and --from/--to', async () => {
    assert.deepEqual(await replayRange({ since: '1h' }, now), { from: now - 3_600_000, to: now });
    assert.deepEqual(await replayRange({}, now), { from: now - 7 * 86_400_000, to: now });
    assert.deepEqual(await replayRange({ from: '2026-11-30', to: '2026-12-01T00:00:00Z' }, now), { from: Date.parse('2026-11-30'), to: Date.parse('2026-12-01T00:00:00Z') });
  });

  const badRanges: Array<[string, Parameters<typeof replayRange>[0]]> = [
    ['a bare number', { since: '7' }],
    ['an unknown unit', { since: '7w' }],
    ['a negative duration', { since: '-1d' }],
    ['an empty duration', { since: '' }],
    ['a unit twice', { since: '1d1d' }],
    ['units out of order', { since: '30m1h' }],
    ['an overflowing duration', { since: '99999999999999999d' }],
    ['zero', { since: '0s' }],
    ['spaces', { since: ' 7d' }],
    ['since and from', { since: '7d', from: '2026-11-01' }],
    ['to without from', { to: '2026-11-01' }],
    ['a word for a date', { from: 'yesterday' }],
    ['a month that is not one', { from: '2026-13-45' }],
    ['a bare number for a date', { from: '1' }],
    ['from after to', { from: '2026-12-02', to: '2026-12-01' }],
    ['from equal to to', { from: '2026-12-01', to: '2026-12-01' }],
  ];
  for (const [name, flags] of badRanges) {
    it(`refuses ${name}`, async () => {
      await assert.rejects(replayRange(flags, now), (err: { code?: string }) => err.code === 'invalid_argument');
    });
  }

  for (const bad of ['-1', 'abc', '1e3', '101', '3.5', ' 3', '']) {
    it(`refuses --examples ${JSON.stringify(bad)}`, () => assert.throws(() => parseExamples(bad), { code: 'invalid_argument' }));
  }
  it('reads --examples 0 to 100', () => assert.deepEqual([parseExamples('0'), parseExamples('100'), parseExamples(undefined)], [0, 100, 3]));

  for (const bad of ['', ',', 'denied,nope', 'DENIED', 'none,denied']) {
    it(`refuses --fail-on ${JSON.stringify(bad)}`, () => assert.throws(() => parseFailOn(bad), { code: 'invalid_argument' }));
  }

  const badPolicies: Array<[string, string]> = [
    ['malformed YAML', 'rules: [ { name: a, action: allow'],
    ['a duplicate key', 'rules: []\nrules: []\n'],
    ['a list of things that are not rules', '- 1\n- two\n'],
    ['a scalar', 'allow everything\n'],
    ['an empty file', ''],
    ['rules not a list', 'rules: allow\n'],
    ['an unknown action', 'rules:\n  - name: a\n    action: permit\n'],
    ['a condition naming an unknown fact', "rules:\n  - name: a\n    when: request.sql.owner == 'x'\n    action: allow\n"],
    ['an unknown variable', "rules:\n  - name: a\n    when: session.user == 'x'\n    action: allow\n"],
    ['a condition that does not parse', "rules:\n  - name: a\n    when: request.sql.kinds.(\n    action: allow\n"],
    ['an unknown masking profile', 'rules:\n  - name: a\n    action: allow\n    mask: nope\n'],
    ['a policy folder that does not exist', 'dir: ./no-such-folder\nrules: []\n'],
  ];
  for (const [name, text] of badPolicies) {
    it(`a candidate with ${name} is a clear config error`, async () => {
      const file = join(await dir, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, text);
      await assert.rejects(loadCandidate(file, ['pii', 'secrets']), (err: { code?: string; message: string }) => err.code === 'config_invalid' && err.message.length > 0);
    });
  }

  it('a missing candidate file is a clear config error', async () => {
    await assert.rejects(loadCandidate(join(await dir, 'missing.yaml'), []), { code: 'config_invalid', message: /cannot read the candidate policy/ });
  });

  it('takes a whole gatehouse.yaml, a policy section or a list of rules', async () => {
    const whole = join(await dir, 'gatehouse.yaml');
    await writeFile(whole, 'connections: []\npolicy:\n  rules:\n    - name: a\n      action: allow\n');
    assert.deepEqual((await loadCandidate(whole, [])).rules.map((r) => r.name), ['a']);
    const section = join(await dir, 'section.yaml');
    await writeFile(section, 'rules:\n  - name: b\n    action: deny\n');
    assert.deepEqual((await loadCandidate(section, [])).rules.map((r) => r.name), ['b']);
    const list = join(await dir, 'list.yaml');
    await writeFile(list, '- name: c\n  action: allow\n');
    assert.deepEqual((await loadCandidate(list, [])).rules.map((r) => r.name), ['c']);
  });
});
