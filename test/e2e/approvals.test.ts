/**
 * Human approval end to end: the official `openai` SDK as the agent, a real gateway in front of the
 * demo model, approvers deciding through the `gatehouse` CLI (a child process) with their own API
 * tokens. The clock and wake-ups of held requests are moved by hand: no case waits on wall time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { personWithToken, type Person } from '../support/people.ts';
import { pollUntil } from '../support/poll.ts';
import { ManualTime } from '../approvals/manual-time.ts';
import { APPROVALS_POLICY, APPROVALS_YAML } from '../approvals/fixtures.ts';

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

describe('approvals with the openai SDK and the gatehouse CLI', () => {
  let t: TestGateway;
  let time: ManualTime;
  let cliHome: string;
  let bob: Person;
  let carol: Person;
  let dan: Person;
  let ivy: Person;
  let sam: Person;
  let uma: Person;
  let pia: Person;
  let adaToken: string;

  before(async () => {
    time = new ManualTime(Date.now());
    cliHome = await mkdtemp(join(tmpdir(), 'gatehouse-approvals-cli-'));
    t = await startTestGateway({ policyYaml: APPROVALS_POLICY, extraYaml: APPROVALS_YAML, approvals: { now: time.now, timers: time } });
    const store = t.gateway.store;
    [bob, carol, dan, ivy, sam, uma, pia] = await Promise.all([
      personWithToken(store, 'bob', ['oncall']),
      personWithToken(store, 'carol', ['oncall']),
      personWithToken(store, 'dan', ['sre']),
      personWithToken(store, 'ivy', ['ic']),
      personWithToken(store, 'sam', ['security', 'engineering']),
      personWithToken(store, 'uma', ['engineering']),
      personWithToken(store, 'pia', ['engineering']),
    ]);
    adaToken = await t.token({ user: 'ada', groups: ['engineering'], connections: ['openai', 'other'] });
  });
  after(async () => {
    await t?.close();
    // A restarted test gateway shares the first one's demo model and leaves closing it to the test.
    await t?.demo.close().catch(() => undefined);
    await rm(cliHome, { recursive: true, force: true });
  });

  const sdk = (token: string, connection = 'openai') => new OpenAI({ baseURL: `${t.url}/proxy/${connection}/v1`, apiKey: token, maxRetries: 0 });
  // Marked handled at once: a held call may be refused before the test awaits it.
  const ask = (client: OpenAI, content: string, signal?: AbortSignal) => {
    const call = client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content }] }, signal ? { signal } : {});
    call.catch(() => undefined);
    return call;
  };

  function cli(token: string, ...args: string[]): Promise<Cli> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', ...args],
        { env: { ...process.env, GATEHOUSE_URL: t.url, GATEHOUSE_TOKEN: token, XDG_CONFIG_HOME: cliHome } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** The pending approval whose masked prompt carries `marker`, once the held request created it. */
  async function pendingWith(marker: string): Promise<string> {
    let id: string | undefined;
    await pollUntil(async () => {
      const { json } = await t.api('GET', '/approvals?status=pending');
      id = (json.approvals as any[]).find((a) => String(a.summary.prompt ?? '').includes(marker))?.id;
      return id !== undefined;
    }, `a pending approval for ${marker}`);
    return id!;
  }

  /** The error a held SDK call ended with. */
  async function refusal(call: Promise<unknown>): Promise<{ status: number; code: string; gatehouse: any; message: string }> {
    try {
      await call;
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIError, `an API error, got ${String(err)}`);
      return { status: err.status!, code: String(err.code), gatehouse: (err.error as any)?.gatehouse, message: err.message };
    }
    assert.fail('the call was expected to be refused');
  }

  const approval = async (id: string) => (await t.api('GET', `/approvals/${id}`)).json;

  test('a held call is approved through the CLI while it waits: it completes normally, once, and the record says approve', async () => {
    const call = ask(sdk(adaToken), 'rotate the keys [case-approve]');
    const id = await pendingWith('case-approve');
    const shown = await cli(bob.token, 'approvals', 'show', id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /rotate the keys \[case-approve\]/);
    assert.match(shown.stdout, /gatehouse approvals approve/);
    const approved = await cli(bob.token, 'approvals', 'approve', id, '--comment', 'ok for the rotation');
    assert.equal(approved.code, 0, approved.stderr);
    const completion = await call;
    assert.ok(completion.choices[0]!.message.content, 'the model answered');
    const after = await approval(id);
    assert.equal(after.status, 'used');
    assert.deepEqual(after.votes.map((v: any) => [v.approver, v.vote, v.comment]), [['bob', 'approve', 'ok for the rotation']]);
    const { json } = await t.api('GET', '/sessions?principal=ada');
    const rows = (await Promise.all(json.sessions.map(async (s: any) => (await t.api('GET', `/sessions/${s.id}`)).json.interactions))).flat();
    const ran = rows.filter((r: any) => r.summary.approval === id);
    assert.equal(ran.length, 1, 'recorded once');
    assert.equal(ran[0].decision, 'approve');
    assert.equal(ran[0].rule, 'hold-chat');
    assert.equal(ran[0].responseStatus, 200);
  });

  test('denied through the CLI: the call fails with approval_denied naming the approval, and never runs', async () => {
    const call = ask(sdk(adaToken), 'drop the prod schema [case-deny]');
    const id = await pendingWith('case-deny');
    const denied = await cli(carol.token, 'approvals', 'deny', id, '--reason', 'not during the freeze');
    assert.equal(denied.code, 0, denied.stderr);
    const error = await refusal(call);
    assert.equal(error.status, 403);
    assert.equal(error.code, 'approval_denied');
    assert.equal(error.gatehouse.approvalId, id);
    const again = await cli(bob.token, 'approvals', 'approve', id);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /\(conflict\)/);
    assert.equal((await approval(id)).usedAt, null);
  });

  test('expired (the injected clock passes timeout): the call fails with approval_expired, and deciding after it is refused', async () => {
    const call = ask(sdk(adaToken), 'wipe the cache [case-expire]');
    const id = await pendingWith('case-expire');
    time.advance(15 * 60_000);
    time.fire();
    const error = await refusal(call);
    assert.equal(error.code, 'approval_expired');
    assert.equal(error.gatehouse.approvalId, id);
    const late = await cli(bob.token, 'approvals', 'approve', id);
    assert.match(late.stderr, /expired.*\(conflict\)/);
  });

  test('the wait runs out: approval_required with the id and the command; approved, the SAME request retried runs once; a second retry and a changed request are held anew', async () => {
    const client = sdk(adaToken);
    const prompt = 'restart the fleet [case-wait]';
    const first = ask(client, prompt);
    const id = await pendingWith('case-wait');
    time.advance(10 * 60_000);
    time.fire();
    const pending = await refusal(first);
    assert.equal(pending.code, 'approval_required');
    assert.equal(pending.gatehouse.approvalId, id);
    assert.deepEqual(pending.gatehouse.approvers, ['oncall']);
    assert.equal(pending.gatehouse.approve, `gatehouse approvals approve ${id}`);
    assert.match(pending.message, new RegExp(`gatehouse approvals approve ${id}`));
    assert.equal((await cli(bob.token, 'approvals', 'approve', id)).code, 0);

    const retried = await ask(client, prompt);
    assert.ok(retried.choices[0]!.message.content);
    assert.equal((await approval(id)).status, 'used');

    // Used once: the same request again waits for a new approval.
    const second = ask(client, prompt);
    await pollUntil(async () => ((await t.api('GET', '/approvals?status=pending')).json.approvals as any[]).some((a) => a.summary.prompt === prompt), 'the second retry is held');
    time.advance(10 * 60_000);
    time.fire();
    const again = await refusal(second);
    assert.equal(again.code, 'approval_required');
    assert.notEqual(again.gatehouse.approvalId, id);

    // Approved, the request changed by one byte does not run under it.
    assert.equal((await cli(bob.token, 'approvals', 'approve', again.gatehouse.approvalId)).code, 0);
    const changed = ask(client, `${prompt}!`);
    const changedId = await pendingWith(`${prompt}!`);
    assert.notEqual(changedId, again.gatehouse.approvalId);
    time.advance(10 * 60_000);
    time.fire();
    assert.equal((await refusal(changed)).code, 'approval_required');
  });

  test('hostile: a retry with its JSON keys in another order (and other whitespace) is the same request, and runs once', async () => {
    const send = (body: string) =>
      fetch(`${t.url}/proxy/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${adaToken}`, 'content-type': 'application/json' }, body });
    const held = send('{"model":"demo","messages":[{"role":"user","content":"purge [case-keys]"}],"temperature":0}');
    held.catch(() => undefined);
    const id = await pendingWith('case-keys');
    time.advance(10 * 60_000);
    time.fire();
    assert.equal((await held).status, 403);
    assert.equal((await cli(bob.token, 'approvals', 'approve', id)).code, 0);
    const reordered = await send('{ "temperature": 0, "messages": [ { "content": "purge [case-keys]", "role": "user" } ], "model": "demo" }');
    assert.equal(reordered.status, 200);
    assert.equal((await approval(id)).status, 'used');
  });

  test('a client that disconnects withdraws its request: the approval becomes withdrawn and can never run', async () => {
    const client = new AbortController();
    const call = ask(sdk(adaToken), 'export all users [case-withdraw]', client.signal);
    const id = await pendingWith('case-withdraw');
    client.abort();
    await assert.rejects(call);
    await pollUntil(async () => (await approval(id)).status === 'withdrawn', 'the approval is withdrawn');
    const late = await cli(bob.token, 'approvals', 'approve', id);
    assert.match(late.stderr, /withdrawn.*\(conflict\)/);
  });

  test('hostile: nobody approves their own request, through the CLI or the API', async () => {
    const olga = await personWithToken(t.gateway.store, 'olga', ['oncall', 'engineering']);
    const olgaAgent = await t.token({ user: 'olga' });
    const client = new AbortController();
    const call = ask(sdk(olgaAgent), 'grant me admin [case-self]', client.signal);
    const id = await pendingWith('case-self');
    const self = await cli(olga.token, 'approvals', 'approve', id);
    assert.notEqual(self.code, 0);
    assert.match(self.stderr, /own request.*\(forbidden_role\)/);
    assert.equal((await t.api('POST', `/approvals/${id}/approve`, {}, olga.token)).json.error.code, 'forbidden_role');
    assert.equal((await approval(id)).votes.length, 0);
    client.abort();
    await assert.rejects(call);
  });

  test('2-of-2 needs two distinct people: the same approver twice is refused, a second one releases the call', async () => {
    const call = ask(sdk(adaToken, 'other'), 'move the money [case-two]');
    const id = await pendingWith('case-two');
    assert.equal((await cli(carol.token, 'approvals', 'approve', id)).code, 0);
    assert.equal((await approval(id)).status, 'pending');
    const twice = await cli(carol.token, 'approvals', 'approve', id);
    assert.match(twice.stderr, /already voted.*\(conflict\)/);
    assert.equal((await cli(dan.token, 'approvals', 'approve', id)).code, 0);
    assert.ok((await call).choices[0]!.message.content);
    assert.equal((await approval(id)).status, 'used');
  });

  test('hostile: an auditor, a user, an approver outside the rule\'s groups and the requester cannot approve; the requester may read their own', async () => {
    const piaAgent = await t.token({ user: 'pia' });
    const client = new AbortController();
    const call = ask(sdk(piaAgent), 'read the payroll [case-who]', client.signal);
    const id = await pendingWith('case-who');
    for (const [who, code] of [[sam, 'forbidden_role'], [uma, 'forbidden_role'], [dan, 'forbidden_role'], [pia, 'forbidden_role']] as const) {
      const res = await t.api('POST', `/approvals/${id}/approve`, {}, who.token);
      assert.equal(res.json.error.code, code, who.principal.name);
    }
    assert.equal((await t.api('GET', `/approvals/${id}`, undefined, pia.token)).status, 200, 'the requester reads their own');
    assert.equal((await t.api('GET', `/approvals/${id}`, undefined, uma.token)).json.error.code, 'not_found', 'another user does not');
    const umaList = (await t.api('GET', '/approvals', undefined, uma.token)).json.approvals as any[];
    assert.ok(!umaList.some((a) => a.id === id));
    assert.equal((await t.api('GET', `/approvals/${id}`, undefined, sam.token)).status, 200, 'an auditor reads every approval');
    assert.equal((await approval(id)).votes.length, 0);
    client.abort();
    await assert.rejects(call);
  });

  test('break-glass: a member of approvals.breakGlassGroups approves a 2-of-2 alone; recorded and logged at warn', async () => {
    const call = ask(sdk(adaToken, 'other'), 'failover the database [case-glass]');
    const id = await pendingWith('case-glass');
    assert.equal((await cli(ivy.token, 'approvals', 'approve', id, '--comment', 'incident 4521')).code, 0);
    assert.ok((await call).choices[0]!.message.content);
    const view = await approval(id);
    assert.equal(view.votes[0].breakGlass, true);
    assert.ok(t.logs.some((line) => line.includes('break-glass') && line.includes('"level":40') && line.includes(id)));
  });

  test('hostile: malformed decisions are refused before anything is stored', async () => {
    const client = new AbortController();
    const call = ask(sdk(adaToken), 'rename the bucket [case-input]', client.signal);
    const id = await pendingWith('case-input');
    const cases: [string, string, unknown, string][] = [
      ['POST', `/approvals/${id}/deny`, { reason: '' }, 'invalid_argument'],
      ['POST', `/approvals/${id}/deny`, {}, 'invalid_argument'],
      ['POST', `/approvals/${id}/approve`, { comment: 'x'.repeat(2001) }, 'invalid_argument'],
      ['POST', `/approvals/${id}/approve`, { comment: 'ok', approve: true }, 'invalid_argument'],
      ['POST', `/approvals/${id}/approve`, { comment: 42 }, 'invalid_argument'],
      ['POST', `/approvals/${id}/approve`, { comment: 'fine\u001b]0;pwned\u0007' }, 'invalid_argument'],
      ['POST', '/approvals/apr_00000000000000000000000000/approve', {}, 'not_found'],
      ['POST', `/approvals/${encodeURIComponent(`${id}' OR '1'='1`)}/approve`, {}, 'not_found'],
      ['GET', '/approvals?status=bogus', undefined, 'invalid_argument'],
      ['GET', '/approvals?limit=100000', undefined, 'invalid_argument'],
    ];
    for (const [method, path, body, code] of cases) {
      const res = await t.api(method, path, body, bob.token);
      assert.equal(res.json?.error?.code, code, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    }
    assert.equal((await approval(id)).votes.length, 0);
    assert.equal((await approval(id)).status, 'pending');
    client.abort();
    await assert.rejects(call);
  });

  test('a restart keeps a pending request pending: the held client hears approval_required, and after the restart the approval still runs it once', async () => {
    const prompt = 'reindex everything [case-restart]';
    const call = ask(sdk(adaToken), prompt);
    const id = await pendingWith('case-restart');
    t = await t.restart();
    const error = await refusal(call);
    assert.equal(error.code, 'approval_required');
    assert.equal((await approval(id)).status, 'pending', 'a restart marks it nothing');
    assert.equal((await cli(bob.token, 'approvals', 'approve', id)).code, 0);
    assert.ok((await ask(sdk(adaToken), prompt)).choices[0]!.message.content);
    assert.equal((await approval(id)).status, 'used');
  });
});

