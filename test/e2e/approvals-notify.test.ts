/**
 * The gateway tells approvers: a request held by a real gateway reaches a webhook receiver on
 * loopback as a signed approval.created, and the decision as approval.decided; the receiver checks
 * each signature with the shared secret, as a user's receiver would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';

const SECRET = randomBytes(24).toString('hex');

interface Delivery {
  readonly type: string;
  readonly approvalId: string;
  readonly signed: boolean;
  readonly body: string;
}

let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];
const waiting: (() => void)[] = [];
let t: TestGateway;
let bob: Person;

function verified(timestamp: string, body: string, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`);
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

async function delivery(type: string): Promise<Delivery> {
  for (;;) {
    const found = deliveries.find((d) => d.type === type);
    if (found) return found;
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
}

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const parsed = JSON.parse(body) as { type: string; approval: { id: string } };
      const signed = verified(String(req.headers['x-gatehouse-timestamp']), body, String(req.headers['x-gatehouse-signature']));
      deliveries.push({ type: parsed.type, approvalId: parsed.approval.id, signed, body });
      res.writeHead(204).end();
      for (const w of waiting.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  t = await startTestGateway({
    policyYaml: `
policy:
  rules:
    - name: hold-chat
      match: { connections: [openai] }
      action: approve
      approvers: [oncall]
      wait: 10m
      timeout: 15m
`,
    extraYaml: `
identity:
  roles:
    - group: oncall
      role: approver
approvals:
  notify:
    webhooks:
      - url: ${receiverUrl}
        secret: ${SECRET}
`,
  });
  bob = await personWithToken(t.gateway.store, 'bob', ['oncall']);
});

after(async () => {
  await t?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('approval notifications from a running gateway', () => {
  test('a held request and its decision reach the webhook, signed; the secret and the prompt\'s secret do not', { timeout: 30_000 }, async () => {
    const token = await t.token({ user: 'ada' });
    const call = fetch(`${t.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'deploy now, key AKIAIOSFODNN7EXAMPLE' }] }),
    });
    const created = await delivery('approval.created');
    assert.equal(created.signed, true, 'the signature verifies with the shared secret');
    assert.ok(!created.body.includes(SECRET));
    assert.ok(!created.body.includes('AKIAIOSFODNN7EXAMPLE'), 'the summary approvers see is masked');
    assert.ok(created.body.includes(`gatehouse approvals approve ${created.approvalId}`));

    const approved = await fetch(`${t.url}/api/v1/approvals/${created.approvalId}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'ok' }),
    });
    assert.equal(approved.status, 200, await approved.clone().text());
    const decided = await delivery('approval.decided');
    assert.equal(decided.approvalId, created.approvalId);
    assert.equal(decided.signed, true);
    assert.equal((await call).status, 200, 'the held call ran once approved');
  });
});
