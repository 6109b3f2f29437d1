/**
 * The four approval refusals as the HTTP listener writes them, read by the real `openai` SDK: a
 * 403 the SDK raises as PermissionDeniedError, with `type` permission_error, our code, a message
 * naming the approval, and the approval's id and the command to run in the body. Hostile approval
 * ids and rule names come back as text, never as markup or extra headers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { writeError } from '../../../src/adapters/http/render.ts';
import { ApprovalPending, ApprovalRefused, type GatewayError } from '../../../src/errors.ts';

const EXPIRES = Date.UTC(2030, 0, 1);
const ID = 'apr_018f2c3a4b5c6d7e8f9a0b1c';

describe('approval errors through the openai SDK', () => {
  let server: Server;
  let next: GatewayError;
  let client: OpenAI;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => writeError(res, next));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: 'gth_test', maxRetries: 0 });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function refusal(error: GatewayError): Promise<InstanceType<typeof OpenAI.APIError>> {
    next = error;
    try {
      await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'drop it' }] });
    } catch (err) {
      assert.ok(err instanceof OpenAI.PermissionDeniedError, `a PermissionDeniedError, got ${String(err)}`);
      return err;
    }
    assert.fail('the call succeeded');
  }

  it('approval_required: the id, who may approve, the command, and when it expires', async () => {
    const err = await refusal(new ApprovalPending('hold-chat', ['oncall', 'sre'], { id: ID, required: 2, expiresAt: EXPIRES }));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'approval_required');
    assert.equal(err.type, 'permission_error');
    assert.ok(err.message.includes(ID) && err.message.includes(`gatehouse approvals approve ${ID}`), err.message);
    const body = err.error as { gatehouse: Record<string, unknown> };
    assert.deepEqual(body.gatehouse, { rule: 'hold-chat', approvers: ['oncall', 'sre'], approvalId: ID, required: 2, expiresAt: EXPIRES, approve: `gatehouse approvals approve ${ID}` });
    assert.equal(err.headers?.get('x-gatehouse-error'), 'approval_required');
  });

  for (const code of ['approval_denied', 'approval_expired', 'approval_withdrawn'] as const) {
    it(`${code}: the id and the command to read it; nothing to approve`, async () => {
      const err = await refusal(new ApprovalRefused(code, 'hold-chat', ID));
      assert.equal(err.status, 403);
      assert.equal(err.code, code);
      assert.equal(err.type, 'permission_error');
      assert.ok(err.message.includes(ID), err.message);
      const body = err.error as { gatehouse: Record<string, unknown> };
      assert.deepEqual(body.gatehouse, { rule: 'hold-chat', approvalId: ID, show: `gatehouse approvals show ${ID}` });
      assert.ok(!('approve' in body.gatehouse), 'a refused approval cannot be approved');
    });
  }

  it('hostile rule names and ids come back as the same text: no header injection, no markup run', async () => {
    const rule = 'r\r\nx-evil: 1 <script>alert(1)</script> "quoted" \u202e';
    const id = 'apr_\u0000\r\n"}';
    const err = await refusal(new ApprovalRefused('approval_denied', rule, id));
    assert.equal(err.headers?.get('x-evil'), null);
    const body = err.error as { gatehouse: Record<string, unknown> };
    assert.equal(body.gatehouse.rule, rule);
    assert.equal(body.gatehouse.approvalId, id);
  });
});
