/**
 * The replay model and its text, from recorded rows: each kind read from its bodies (OpenAI,
 * Anthropic, Gemini and Responses shapes, a stream's text, SQL simple and extended, MCP results
 * and errors, HTTP), times from the record only, approvals in order, bodies removed by retention,
 * and text that cannot drive a terminal or flood it. Time bounds and page tokens as callers write them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReplay, type ReplayInput } from '../../src/audit/replay.ts';
import { clean, offset, renderEntry, renderFooter, renderHeader, TEXT_LIMIT } from '../../src/audit/replay-render.ts';
import { pageToken, parseTimeBound, readPageToken, timeRange } from '../../src/audit/search-query.ts';
import { GatewayError } from '../../src/errors.ts';
import type { AuditEventRow, InteractionRow, SessionRow } from '../../src/store/types.ts';

const T0 = 1_760_000_000_000;
const SESSION: SessionRow & { agent: string | null } = {
  id: 'ses_1', principalId: 'usr_1', principalName: 'ada', tokenId: 'tok_1', agent: 'nightly', connection: 'c', protocol: 'http',
  clientAddr: null, startedAt: T0, endedAt: T0 + 90_000, endReason: 'idle', replicaId: null,
};

function row(seq: number, over: Partial<InteractionRow>): InteractionRow {
  return {
    id: `int_${seq}`, sessionId: 'ses_1', seq, kind: 'llm.chat', status: 'complete', decision: 'allow', rule: 'r', reason: null, method: 'POST',
    target: '/v1/chat/completions', model: 'm', summary: {}, requestBody: null, responseStatus: 200, responseBody: null, errorCode: null,
    upstreamCode: null, bytesIn: 0, bytesOut: 0, startedAt: T0 + seq * 1000, completedAt: T0 + seq * 1000 + 40, latencyMs: 40, prevHash: null, hash: null,
    ...over,
  };
}

const page = (rows: InteractionRow[], over: Partial<ReplayInput> = {}) =>
  buildReplay({ session: SESSION, interactions: rows, total: rows.length, hasMore: false, approvalOf: new Map(), trails: new Map(), ...over });
const one = (r: InteractionRow) => page([r]).entries[0]!;

describe('each kind read from its recorded bodies', () => {
  const CASES: [string, Partial<InteractionRow>, (e: ReturnType<typeof one>) => void][] = [
    ['OpenAI chat, tools offered, a tool call back', {
      requestBody: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: {} }] }], tools: [{ type: 'function', function: { name: 'lookup' } }] }),
      responseBody: JSON.stringify({ choices: [{ message: { role: 'assistant', content: null, tool_calls: [{ function: { name: 'lookup', arguments: '{"q":1}' } }] } }] }),
    }, (e) => {
      assert.deepEqual(e.request.messages, [{ role: 'system', text: 'be brief' }, { role: 'user', text: 'hi\n[image_url]' }]);
      assert.deepEqual(e.request.tools, ['lookup']);
      assert.deepEqual(e.response!.toolCalls, [{ name: 'lookup', arguments: '{"q":1}' }]);
    }],
    ['Anthropic messages: system, blocks, tool_use', {
      requestBody: JSON.stringify({ system: [{ type: 'text', text: 'sys' }], messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'done' }] }], tools: [{ name: 'calc' }] }),
      responseBody: JSON.stringify({ content: [{ type: 'text', text: 'four' }, { type: 'tool_use', name: 'calc', input: { a: 2 } }] }),
    }, (e) => {
      assert.deepEqual(e.request.messages, [{ role: 'system', text: 'sys' }, { role: 'user', text: 'done' }]);
      assert.deepEqual(e.request.tools, ['calc']);
      assert.equal(e.response!.text, 'four');
      assert.deepEqual(e.response!.toolCalls, [{ name: 'calc', arguments: '{"a":2}' }]);
    }],
    ['Gemini contents and candidates', {
      requestBody: JSON.stringify({ systemInstruction: { parts: [{ text: 'sys' }] }, contents: [{ role: 'user', parts: [{ text: 'a' }, { text: 'b' }] }] }),
      responseBody: JSON.stringify({ candidates: [{ content: { parts: [{ text: 'answer' }] } }] }),
    }, (e) => {
      assert.deepEqual(e.request.messages, [{ role: 'system', text: 'sys' }, { role: 'user', text: 'a\nb' }]);
      assert.equal(e.response!.text, 'answer');
    }],
    ['Responses API input string and output_text', { kind: 'llm.responses', requestBody: JSON.stringify({ input: 'q', instructions: 'i' }), responseBody: JSON.stringify({ output_text: 'a' }) }, (e) => {
      assert.deepEqual(e.request.messages, [{ role: 'system', text: 'i' }, { role: 'user', text: 'q' }]);
      assert.equal(e.response!.text, 'a');
    }],
    ['a stream, recorded as its text', { requestBody: '{"stream":true,"messages":[]}', responseBody: 'Echo: hello' }, (e) => assert.equal(e.response!.text, 'Echo: hello')],
    ['an upstream error body', { responseStatus: 429, responseBody: JSON.stringify({ error: { message: 'slow down', type: 'rate_limit' } }) }, (e) => {
      assert.deepEqual(e.response!.error, { code: 'rate_limit', message: 'slow down' });
    }],
    ['a cut body that is no longer JSON', { requestBody: '{"messages":[{"role":"user","content":"abc…[truncated 9 bytes]' }, (e) => {
      assert.deepEqual(e.request.messages, []);
      assert.match(e.request.body!, /truncated/);
    }],
    ['SQL, simple protocol', { kind: 'sql.query', method: null, target: 'select 1', requestBody: 'select 1', responseStatus: null, responseBody: '{"command":"SELECT 1","rows":1}' }, (e) => {
      assert.deepEqual([e.request.sql, e.request.params, e.response!.command, e.response!.rows], ['select 1', null, 'SELECT 1', 1]);
    }],
    ['SQL, extended protocol, a failure', {
      kind: 'sql.query', requestBody: '{"sql":"select $1","params":["x"]}', responseStatus: null, upstreamCode: '22P02',
      responseBody: '{"command":null,"rows":0,"error":{"code":"22P02","message":"bad"}}',
    }, (e) => {
      assert.deepEqual(e.request.params, ['x']);
      assert.deepEqual(e.response!.error, { code: '22P02', message: 'bad' });
    }],
    ['SQL refused before it ran: no response', { kind: 'sql.query', decision: 'deny', errorCode: 'policy_denied', responseStatus: 403, requestBody: null, target: 'drop table t', reason: 'no drops' }, (e) => {
      assert.equal(e.response, null);
      assert.equal(e.request.sql, 'drop table t');
    }],
    ['MCP tool call and its result', { kind: 'mcp.tool_call', method: 'tools/call', target: 'search', requestBody: '{"q":"x"}', responseBody: JSON.stringify({ content: [{ type: 'text', text: 'found 2' }], isError: false }) }, (e) => {
      assert.deepEqual([e.request.tool, e.request.arguments, e.response!.text, e.response!.isError], ['search', '{"q":"x"}', 'found 2', false]);
    }],
    ['MCP tool error and JSON-RPC error', { kind: 'mcp.tool_call', target: 't', responseBody: JSON.stringify({ code: -32602, message: 'bad args' }) }, (e) => {
      assert.deepEqual(e.response!.error, { code: '-32602', message: 'bad args' });
    }],
    ['MCP structured content only', { kind: 'mcp.tool_call', target: 't', responseBody: JSON.stringify({ content: [], structuredContent: { n: 1 }, isError: true }) }, (e) => {
      assert.deepEqual([e.response!.text, e.response!.isError], ['{"n":1}', true]);
    }],
    ['HTTP', { kind: 'http.request', method: 'GET', target: '/v1/things?x=1', requestBody: null, responseStatus: 404, responseBody: 'nope' }, (e) => {
      assert.deepEqual([e.request.method, e.request.target, e.response!.status, e.response!.body], ['GET', '/v1/things?x=1', 404, 'nope']);
    }],
    ['a kind no reader knows (a newer adapter): shown as HTTP-like', { kind: 's3.get_object', method: 'GET', target: '/bucket/key', responseBody: 'x' }, (e) => {
      assert.equal(e.request.type, 'http');
    }],
  ];
  for (const [name, over, check] of CASES) test(name, () => check(one(row(1, over))));
});

describe('the timeline', () => {
  test('offsets and gaps come from the recorded times; the first gap of a later page from the row before it', () => {
    const p = page([row(3, { startedAt: T0 + 2_500, completedAt: T0 + 2_540 }), row(4, { startedAt: T0 + 70_000, completedAt: T0 + 70_040 })], { previousStartedAt: T0 + 2_000, hasMore: true, total: 9 });
    assert.deepEqual(p.entries.map((e) => [e.offsetMs, e.gapMs, e.durationMs]), [[2_500, 500, 40], [70_000, 67_500, 40]]);
    assert.equal(p.nextSeq, 5);
    assert.equal(page([row(1, {})]).nextSeq, null);
    assert.equal(page([]).nextSeq, null);
  });

  test("an approval's transitions in time order, without refused or foreign events", () => {
    const ev = (at: number, action: string, actor: string, outcome: number | null, details: Record<string, unknown> = {}): AuditEventRow => ({
      id: `aud_${at}`, at: T0 + at, replicaId: null, actorId: actor, actorName: actor, actorKind: 'user', credentialId: null, action, target: 'apr_1', outcome, details,
    });
    const trail = [ev(30, 'approval.used', 'ada', 200), ev(10, 'approval.created', 'ada', 200), ev(20, 'approval.voted', 'bob', 200, { vote: 'approve', comment: 'ok' }),
      ev(21, 'approveApproval', 'bob', 200), ev(22, 'approval.voted', 'eve', 409), ev(25, 'approval.approved', 'bob', 200)];
    const e = page([row(1, { decision: 'approve', summary: { approval: 'apr_1' } })], { approvalOf: new Map([['int_1', 'apr_1']]), trails: new Map([['apr_1', trail]]) }).entries[0]!;
    assert.deepEqual(e.approval!.events.map((a) => [a.action, a.actor, a.offsetMs, a.note]), [
      ['approval.created', 'ada', 10, null], ['approval.voted', 'bob', 20, 'vote: approve, comment: ok'], ['approval.approved', 'bob', 25, null], ['approval.used', 'ada', 30, null],
    ]);
    assert.match(renderEntry(e), /approved \(rule r\)[^\n]*\n\s+approval apr_1:\n\s+\+0\.010s created by ada\n\s+\+0\.020s voted by bob \(vote: approve, comment: ok\)/);
  });

  test('bodies removed by retention are said to be, not shown as empty', () => {
    const e = one({ ...row(1, { requestBody: null, responseBody: null }), bodiesPurgedAt: T0 + 5 } as InteractionRow);
    assert.equal(e.bodiesPurgedAt, T0 + 5);
    assert.match(renderEntry(e), /bodies removed by retention at 2025-/);
  });
});

describe('the text', () => {
  test('no control character reaches the terminal, from any recorded field', () => {
    const evil = 'ok\u001b[2J\u001b]0;pwned\u0007\u202eevil\u0000\r\nnext';
    const e = one(row(1, { rule: evil, requestBody: JSON.stringify({ messages: [{ role: evil, content: evil }] }), responseBody: evil }));
    const text = [renderHeader(page([row(1, {})], { session: { ...SESSION, principalName: evil, agent: evil } })), renderEntry(e)].join('\n');
    assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    assert.match(text, /ok\uFFFD\[2J/);
    assert.match(text, /\n\s+next/, 'a newline in a message stays a line break, indented');
  });

  test('a huge answer is cut, saying how much and where the rest is', () => {
    const e = one(row(1, { responseBody: 'x'.repeat(TEXT_LIMIT * 5) }));
    const text = renderEntry(e);
    assert.ok(text.length < TEXT_LIMIT + 500);
    assert.match(text, new RegExp(`\\[${TEXT_LIMIT * 4} more characters; --json shows all\\]`));
    assert.equal(clean('abc', 2), 'ab… [1 more characters; --json shows all]');
  });

  test('offsets, header and footer', () => {
    assert.deepEqual([offset(0), offset(1_234), offset(62_345), offset(-5)], ['+0.000s', '+1.234s', '+1m02.345s', '-0.005s']);
    const p = page([row(1, {}), row(2, {})], { total: 40, hasMore: true });
    assert.match(renderHeader(p), /^session ses_1  ada agent nightly → c \(http\)\nstarted 2025-[^,]+, ended [^ ]+ \(\+1m30\.000s\): idle; 40 interactions$/);
    assert.equal(renderFooter(p, 'gatehouse sessions replay ses_1'), 'shown #1–#2 of 40; next page: gatehouse sessions replay ses_1 --from 3');
    assert.equal(renderFooter(page([]), 'x'), '(no interactions recorded)');
    assert.equal(renderFooter(page([], { total: 3 }), 'x'), '(no interactions from there on)');
  });
});

describe('time bounds and page tokens', () => {
  const NOW = Date.UTC(2026, 11, 8, 0, 0, 0);
  const invalid = (fn: () => unknown) => assert.throws(fn, (err: unknown) => err instanceof GatewayError && err.code === 'invalid_argument');

  test('durations back from now, ISO dates and times (UTC when no zone), epoch ms', () => {
    assert.equal(parseTimeBound('since', '7d', NOW), NOW - 7 * 86_400_000);
    assert.equal(parseTimeBound('since', '1h30m', NOW), NOW - 5_400_000);
    assert.equal(parseTimeBound('since', '2026-12-01', NOW), Date.UTC(2026, 11, 1));
    assert.equal(parseTimeBound('since', '2026-12-01T03:00', NOW), Date.UTC(2026, 11, 1, 3));
    assert.equal(parseTimeBound('since', '2026-12-01T03:00:00+02:00', NOW), Date.UTC(2026, 11, 1, 1));
    assert.equal(parseTimeBound('since', '1700000000000', NOW), 1_700_000_000_000);
    assert.equal(parseTimeBound('since', '99999d', NOW), 0, 'before the epoch is the epoch');
    assert.deepEqual(timeRange(undefined, undefined, NOW), {});
  });

  test('anything else is refused', () => {
    for (const bad of ['', ' ', 'yesterday', '7 d', '-7d', '1e3', '2026-02-30T25:00', '2026-13-01', 'NaN', '0x10', '１２３']) {
      invalid(() => parseTimeBound('since', bad, NOW));
    }
    invalid(() => timeRange('1d', '2d', NOW));
    invalid(() => timeRange('2026-12-02', '2026-12-01', NOW));
  });

  test('a page token reads back as the position it was made from; any other spelling is refused', () => {
    const position = { startedAt: T0, id: 'ses_01a2-b_c' };
    assert.deepEqual(readPageToken(pageToken(position)), position);
    const good = pageToken(position);
    for (const bad of [`${good}=`, ` ${good}`, `${good}A`, `${good.slice(0, 4)}+${good.slice(5)}`, Buffer.from(`${T0}.x.y`).toString('base64'), 'Zm9v', '']) {
      invalid(() => readPageToken(bad));
    }
  });
});
