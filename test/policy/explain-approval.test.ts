/**
 * What `policy test` shows of an approve decision, table-driven: the durations read as the config
 * writes them, the client's view follows the connection's protocol (every one when unknown), and
 * the decision stays the last line (so scripts reading it keep working).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { approvalLines, previewApproval } from '../../src/policy/explain-approval.ts';
import type { ConnectionType, Decision } from '../../src/interaction.ts';
import { buildTestInput, explainDecision, loadPolicy } from '../../src/policy/index.ts';

const decision = (over: Partial<Extract<Decision, { action: 'approve' }>> = {}): Extract<Decision, { action: 'approve' }> => ({
  action: 'approve', rule: 'hold', approvers: ['oncall'], required: 2, timeoutMs: 5_400_000, waitMs: 90_000, obligations: { maskingProfile: null, limits: {} }, ...over,
});

describe('policy test: an approve decision', () => {
  const cases: { connection: ConnectionType | undefined; protocols: string[]; mentions: RegExp }[] = [
    { connection: 'openai', protocols: ['http'], mentions: /HTTP 403 with error\.type permission_error, error\.code approval_required/ },
    { connection: 'http', protocols: ['http'], mentions: /gatehouse\.approve/ },
    { connection: 'postgres', protocols: ['postgres'], mentions: /NoticeResponse names the approval at once.*42501.*CancelRequest withdraws it/ },
    { connection: 'mcp', protocols: ['mcp'], mentions: /error result \(isError\)/ },
    { connection: undefined, protocols: ['http', 'postgres', 'mcp'], mentions: /./ },
  ];
  for (const c of cases) {
    it(`on ${c.connection ?? 'an unknown'} connection the client's view is ${c.protocols.join(', ')}`, () => {
      const preview = previewApproval(decision(), c.connection, []);
      assert.deepEqual(Object.keys(preview.client), c.protocols);
      assert.match(Object.values(preview.client).join('\n'), c.mentions);
    });
  }

  it('durations as the config writes them, with seconds; n-of-m and break-glass named', () => {
    const preview = previewApproval(decision(), 'openai', ['ic', 'sec-leads']);
    assert.deepEqual([preview.wait, preview.timeout, preview.waitMs, preview.timeoutMs], ['90s', '90m', 90_000, 5_400_000]);
    const lines = approvalLines(preview);
    assert.equal(lines[0], 'approvers: 2 distinct approval(s) from members of oncall, never the requester; or one member of ic, sec-leads alone (break-glass)');
    assert.equal(lines[1], 'wait: 90s: how long the client blocks for a decision');
    assert.equal(lines[2], 'timeout: 90m (5400s): when the approval expires, counted from the request');
  });

  it('a rule naming no approver group says nobody can approve', () => {
    assert.match(approvalLines(previewApproval(decision({ approvers: [] }), 'openai', []))[0]!, /nobody can approve/);
  });

  it('explainDecision: the preview sits above the decision line, which stays last; allow and deny carry none', async () => {
    const engine = await loadPolicy({
      rules: [
        { name: 'hold-deletes', when: "request.http.method == 'DELETE'", action: 'approve', approvers: ['oncall'], wait: '30s', timeout: '10m' },
        { name: 'reads', action: 'allow' },
      ],
    } as never, { baseDir: '.', knownMaskProfiles: [] });
    const held = explainDecision(engine, buildTestInput({ identity: 'ada', groups: [], kind: 'user', connection: 'api', connectionType: 'http', http: 'DELETE /v1/files/1' }, {}), { breakGlassGroups: ['ic'] });
    const lines = held.text.split('\n');
    assert.equal(lines.at(-1), 'decision: approve (rule hold-deletes): 1 of [oncall], wait 30s, timeout 10m');
    assert.ok(lines.some((l) => l.startsWith('client (http): blocks up to 30s')));
    assert.equal(held.approval?.timeoutMs, 600_000);
    assert.deepEqual(held.approval?.breakGlassGroups, ['ic']);
    const allowed = explainDecision(engine, buildTestInput({ identity: 'ada', groups: [], kind: 'user', connection: 'api', connectionType: 'http', http: 'GET /v1/files/1' }, {}));
    assert.equal(allowed.approval, undefined);
    assert.ok(!allowed.text.includes('client ('));
  });
});
