import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { verifyChain } from '../../src/audit/hash-chain.ts';
import { clipUpstreamCode, Recorder, UPSTREAM_CODE_MAX_CHARS, type InteractionDraft } from '../../src/audit/recorder.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

const draft: InteractionDraft = {
  kind: 'sql.query', decision: 'allow', rule: 'read-only', reason: null, method: null, target: 'SELECT * FROM missing',
  model: null, summary: { sql: { kinds: ['select'], tables: ['missing'] } }, requestBody: 'SELECT * FROM missing', bytesIn: 21,
};
const options = { redact: (text: string) => text };

describe('recorder: the gateway code and the upstream code are recorded apart', () => {
  let dir: string;
  let store: Store;
  let recorder: Recorder;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-recorder-'));
    store = await openStore({ sqlitePath: path.join(dir, 'gatehouse.db') });
    recorder = new Recorder(store, pino({ level: 'silent' }), 64 * 1024);
  });

  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the write-ahead row without an upstream code, then each outcome with its own, and the chain verifies', async () => {
    const session = await recorder.openSession({
      principalId: null, principalName: 'alice', tokenId: null, connection: 'prod-db', protocol: 'postgres', clientAddr: null,
    });
    const failed = await recorder.open(session.id, draft, options);
    assert.equal((await store.getInteraction(failed.row.id))?.upstreamCode, null);
    await failed.complete({ status: 'complete', responseStatus: null, responseBody: null, errorCode: null, upstreamCode: '42P01', bytesOut: 90 });

    const skipped = await recorder.open(session.id, draft, options);
    await skipped.complete({ status: 'complete', responseStatus: null, responseBody: null, errorCode: 'skipped', upstreamCode: null, bytesOut: 0 });

    // upstreamCode is optional: callers that know of no upstream error leave it out.
    const refused = await recorder.open(session.id, draft, options);
    await refused.complete({ status: 'complete', responseStatus: 403, responseBody: null, errorCode: 'policy_denied', bytesOut: 0 });

    const rows = await store.listInteractions(session.id);
    assert.deepEqual(rows.map((r) => [r.errorCode, r.upstreamCode]), [[null, '42P01'], ['skipped', null], ['policy_denied', null]]);
    assert.deepEqual(verifyChain(rows), { ok: true, checked: 3, unsealed: 0, problems: [] });
  });

  it('clips a long upstream code to the limit, and the clipped code is what is sealed', async () => {
    const session = await recorder.openSession({
      principalId: null, principalName: 'bob', tokenId: null, connection: 'api', protocol: 'http', clientAddr: null,
    });
    const open = await recorder.open(session.id, draft, options);
    const prose = 'x'.repeat(UPSTREAM_CODE_MAX_CHARS + 500);
    await open.complete({ status: 'complete', responseStatus: 500, responseBody: null, errorCode: null, upstreamCode: prose, bytesOut: 0 });
    const rows = await store.listInteractions(session.id);
    assert.equal(rows[0]!.upstreamCode, 'x'.repeat(UPSTREAM_CODE_MAX_CHARS));
    assert.equal(verifyChain(rows).ok, true);
  });
});

describe('clipUpstreamCode', () => {
  it('keeps short codes and null as they are', () => {
    assert.equal(clipUpstreamCode('42P01'), '42P01');
    assert.equal(clipUpstreamCode('x'.repeat(UPSTREAM_CODE_MAX_CHARS)), 'x'.repeat(UPSTREAM_CODE_MAX_CHARS));
    assert.equal(clipUpstreamCode(null), null);
    assert.equal(clipUpstreamCode(undefined), null);
  });

  it('never leaves half of a surrogate pair at the cut', () => {
    const code = `${'x'.repeat(UPSTREAM_CODE_MAX_CHARS - 1)}😀tail`;
    const clipped = clipUpstreamCode(code)!;
    assert.equal(clipped, 'x'.repeat(UPSTREAM_CODE_MAX_CHARS - 1));
    assert.doesNotMatch(clipped, /[\uD800-\uDFFF]/, 'no lone surrogate');
  });
});
