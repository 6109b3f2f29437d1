/**
 * Slack incoming-webhook messages: the shape Slack expects, everything a requester controls
 * escaped (no link, mention or broadcast can be injected through a prompt or a name), limits
 * kept, and delivery to a loopback stand-in for Slack with retries on 429.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createApprovalNotifier, escapeMrkdwn, slackMessage } from '../../src/approvals/notify/index.ts';
import { approval, captureLogs, created, decided, FakeTimers, Receiver, status } from './support/notify-harness.ts';

type Block = { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[]; elements?: { text: string }[] };
type Message = { text: string; blocks: Block[]; parse: string; link_names: boolean; unfurl_links: boolean; unfurl_media: boolean };

const message = (event: Parameters<typeof slackMessage>[0]) => slackMessage(event) as unknown as Message;

/** Every mrkdwn string of a message, where Slack reads `<…>` and `&…;`. */
function mrkdwnTexts(m: Message): string[] {
  const out = [m.text];
  for (const b of m.blocks) {
    if (b.text?.type === 'mrkdwn') out.push(b.text.text);
    for (const f of b.fields ?? []) out.push(f.text);
    for (const e of b.elements ?? []) out.push(e.text);
  }
  return out;
}

/** The only `<` a message may hold is the date formatting it adds itself; `&` only as an escape. */
function assertInert(m: Message): void {
  for (const text of mrkdwnTexts(m)) {
    for (const match of text.matchAll(/</g)) {
      assert.match(text.slice(match.index), /^<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9TZ:-]+>/, `an unescaped < in ${JSON.stringify(text)}`);
    }
    assert.doesNotMatch(text, /&(?!amp;|lt;|gt;)/, `a raw & in ${JSON.stringify(text)}`);
  }
}

describe('Slack approval messages', { timeout: 60_000 }, () => {
  it('shows requester, agent, connection, rule, summary, expiry and the command to approve', () => {
    const m = message(created());
    assert.equal(m.parse, 'none');
    assert.equal(m.link_names, false);
    assert.equal(m.unfurl_links, false);
    assert.equal(m.unfurl_media, false);
    assert.equal(m.blocks[0]!.type, 'header');
    const all = mrkdwnTexts(m).join('\n');
    for (const part of ['`alice`', '`support-bot`', '`prod-db`', '`prod-deletes-need-two-dbas`', '2 of `dba`', '`gatehouse approvals approve apr_01J9Z5`']) {
      assert.ok(all.includes(part), `missing ${part} in\n${all}`);
    }
    assert.match(all, /```sql: DELETE FROM orders WHERE id = 42```/);
    assert.match(all, /\*Expires\*\n<!date\^1760000900\^\{date_short_pretty\} \{time\}\|2025-10-09T09:08:20Z>/);
    assert.ok(m.text.length > 0 && m.text.length < 3000);
    assertInert(m);
  });

  it('escapes a summary holding <!channel>, a link with a label and an entity', () => {
    const m = message(created(approval({ summary: { prompt: 'hi <!channel> see <https://evil.example|click here> &amp; <@U0123> <!here|here>' } })));
    const all = mrkdwnTexts(m).join('\n');
    assert.ok(all.includes('&lt;!channel&gt;'));
    assert.ok(all.includes('&lt;https://evil.example|click here&gt;'));
    assert.ok(all.includes('&amp;amp;'));
    assert.ok(all.includes('&lt;@U0123&gt;'));
    assert.ok(!all.includes('<!channel>') && !all.includes('<https://') && !all.includes('<@U0123>'));
    assertInert(m);
  });

  it('escapes names and keeps a backtick from closing its code span', () => {
    const m = message(created(approval({ requester: { id: 'x', name: 'eve` <!everyone> *bold*' }, agent: '<https://a|b>', connection: 'a&b', rule: 'r`\n<!here>' })));
    const all = mrkdwnTexts(m).join('\n');
    assert.ok(all.includes('`eveˋ &lt;!everyone&gt; *bold*`'));
    assert.ok(all.includes('`&lt;https://a|b&gt;`'));
    assert.ok(all.includes('`a&amp;b`'));
    assert.ok(all.includes('`rˋ &lt;!here&gt;`'), 'line breaks in a name collapse to a space');
    assertInert(m);
  });

  it('a summary cannot close its code block', () => {
    const m = message(created(approval({ summary: { prompt: '``` outside <!channel> ```' } })));
    const summary = m.blocks.find((b) => b.text?.text.startsWith('*What will run*'))!.text!.text;
    assert.equal(summary.split('```').length, 3, 'exactly one code block');
    assertInert(m);
  });

  it('a decision says who decided and how, break-glass and comments included, escaped', () => {
    const m = message(
      decided(
        approval({
          status: 'approved',
          decidedAt: 1_760_000_300_000,
          votes: [
            { approver: 'bob', vote: 'approve', comment: 'ok <!channel>', at: 1, breakGlass: false },
            { approver: 'carol', vote: 'approve', comment: null, at: 2, breakGlass: true },
          ],
        }),
      ),
    );
    const all = mrkdwnTexts(m).join('\n');
    assert.match(all, /approved by `bob`: ok &lt;!channel&gt;/);
    assert.match(all, /approved by `carol` \*\(break-glass\)\*/);
    assert.ok(!all.includes('gatehouse approvals approve'), 'no command to approve what is decided');
    assert.equal((m.blocks[0]!.text as { text: string }).text, 'Approved');
    assertInert(m);
    for (const [status, words] of [['denied', /Denied/], ['expired', /Expired/], ['withdrawn', /Withdrawn/]] as const) {
      const d = message(decided(approval({ status, decidedAt: 5, votes: status === 'denied' ? [{ approver: 'dan', vote: 'deny', comment: 'no & never', at: 3, breakGlass: false }] : [] })));
      assert.match(mrkdwnTexts(d).join('\n'), words);
      assertInert(d);
    }
  });

  it('keeps within Slack limits for a huge summary and never cuts an entity or a surrogate pair in half', () => {
    for (const prompt of ['&'.repeat(20_000), '<'.repeat(20_000), '😀'.repeat(20_000), 'x'.repeat(2_599) + '😀'.repeat(10)]) {
      const m = message(created(approval({ summary: { prompt }, agent: '&'.repeat(5_000) })));
      for (const b of m.blocks) {
        if (b.text) assert.ok(b.text.text.length <= 3_000, `section of ${b.text.text.length}`);
        for (const f of b.fields ?? []) assert.ok(f.text.length <= 2_000);
      }
      const summary = m.blocks.find((b) => b.text?.text.startsWith('*What will run*'))!.text!.text;
      assert.doesNotMatch(summary, /&[a-z]{0,3}…/);
      assert.ok(summary.endsWith('…```'));
      assert.doesNotMatch(summary, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'no lone high surrogate');
      assertInert(m);
    }
  });

  it('escapeMrkdwn escapes exactly &, < and >', () => {
    assert.equal(escapeMrkdwn('a&b<c>d*e_f~g`'), 'a&amp;b&lt;c&gt;d*e_f~g`');
  });
});

describe('Slack delivery', { timeout: 60_000 }, () => {
  const open: Array<() => Promise<void>> = [];
  after(async () => {
    for (const close of open) await close();
  });

  it('posts the message as JSON, unsigned, retries a 429 after Retry-After, and never logs the webhook address', async () => {
    const receiver = await new Receiver().start('/services/T000/B000/XXXXsecretXXXX');
    const timers = new FakeTimers();
    const logs = captureLogs();
    const notifier = createApprovalNotifier({ slack: [{ webhookUrl: receiver.url }], timeout: 9_000 }, { logger: logs.logger, now: () => 0, timers, random: () => 0.5 });
    open.push(async () => {
      await notifier.close();
      await receiver.stop();
    });
    receiver.answers.push(status(429, { 'retry-after': '3' }), status(500));
    notifier.notify(created());
    timers.fire(await timers.next(3_000));
    timers.fire(await timers.next(2_000));
    await logs.waitFor('delivered');
    assert.equal(receiver.requests.items.length, 3);
    const req = receiver.requests.items[2]!;
    assert.equal(req.url, '/services/T000/B000/XXXXsecretXXXX');
    assert.equal(req.headers['x-gatehouse-signature'], undefined);
    const body = JSON.parse(req.body) as Message;
    assert.ok(Array.isArray(body.blocks) && body.text.includes('alice'));
    const logged = logs.all();
    assert.ok(!logged.includes('XXXXsecretXXXX') && !logged.includes(receiver.url), logged);
    assert.match(logged, /"receiver":"slack\[0\]"/);
  });
});
