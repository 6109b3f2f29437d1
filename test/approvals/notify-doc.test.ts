/**
 * docs/approvals.md › Notifications as a receiver uses it: the page's own `verify` function, run
 * as written, accepts a real notification delivered to a loopback receiver and refuses it tampered,
 * under another secret, or replayed with an old timestamp.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { createApprovalNotifier } from '../../src/approvals/notify/index.ts';
import { docBlock } from '../docs/support/markdown.ts';
import { assignedTo } from '../docs/support/manifest.ts';
import { captureLogs, created, Receiver, type Received } from './support/notify-harness.ts';

const RUNNER = '../approvals/notify-doc.test.ts';
const SECRET = 'doc-secret-0123456789abcdef';

type Verify = (secret: string, headers: Record<string, unknown>, rawBody: Buffer, maxAgeSeconds?: number) => boolean;

let dir: string;
let verify: Verify;
let received: Received;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-notify-doc-'));
  const file = join(dir, 'verify.mjs');
  await writeFile(file, `${docBlock('docs/approvals.md › Notifications › 2').text}\nexport { verify };\n`);
  ({ verify } = (await import(pathToFileURL(file).href)) as { verify: Verify });

  const receiver = await new Receiver().start();
  const logs = captureLogs();
  // The snippet checks freshness against the wall clock, so this notifier signs with it.
  const notifier = createApprovalNotifier({ webhooks: [{ url: receiver.url, secret: SECRET }] }, { logger: logs.logger, now: Date.now });
  notifier.notify(created());
  received = await receiver.requests.next();
  await notifier.close();
  await receiver.stop();
});
after(() => rm(dir, { recursive: true, force: true }));

const CASES: Record<string, () => void> = {
  'docs/approvals.md › Notifications › 2': () => {
    assert.equal(verify(SECRET, received.headers, received.raw), true, 'a real notification verifies');
    assert.equal(verify('another-secret-0123456789', received.headers, received.raw), false, 'under another secret it does not');
    assert.equal(verify(SECRET, received.headers, Buffer.from(received.body.replace('id = 42', 'id > 0'))), false, 'nor tampered');
    assert.equal(verify(SECRET, { ...received.headers, 'x-gatehouse-signature': undefined }, received.raw), false, 'nor unsigned');
    // A replay: correctly signed, but at a time long gone.
    const old = String(Math.floor(Date.now() / 1000) - 3_600);
    const signature = `sha256=${createHmac('sha256', SECRET).update(`${old}.`).update(received.raw).digest('hex')}`;
    assert.equal(verify(SECRET, { ...received.headers, 'x-gatehouse-timestamp': old, 'x-gatehouse-signature': signature }, received.raw), false, 'nor replayed');
    assert.equal(verify(SECRET, { ...received.headers, 'x-gatehouse-timestamp': old, 'x-gatehouse-signature': signature }, received.raw, 7_200), true, 'the age limit is what refused it');
  },
};

for (const id of assignedTo(RUNNER)) {
  test(id, () => {
    const run = CASES[id];
    assert.ok(run, `no case for ${id} in this file`);
    run();
  });
}

test('this file has a case for exactly the blocks the manifest assigns to it', () => {
  assert.deepEqual(Object.keys(CASES).sort(), assignedTo(RUNNER));
});
