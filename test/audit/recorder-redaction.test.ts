import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { Recorder, type InteractionDraft } from '../../src/audit/recorder.ts';
import { openStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/types.ts';

const SECRET = 'ghp_' + 'aZ3bY4cX5dW6eV7fU8gT9hS0iR1jQ2kP3lO4';
/** A stand-in for the secrets profile: the one secret, replaced wherever it appears whole. */
const redact = (text: string) => text.replaceAll(SECRET, '[GITHUB_TOKEN]');
const encoded = [...SECRET].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');

describe('recorder: every stored field passes the secrets redactor', () => {
  let dir: string;
  let store: Store;
  let recorder: Recorder;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gatehouse-redaction-'));
    store = await openStore({ sqlitePath: path.join(dir, 'gatehouse.db') });
    recorder = new Recorder(store, pino({ level: 'silent' }), 256);
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('redacts model, target, method, reason, summary keys and values (decoded when percent-encoded) and the upstream code, even when the bodies were masked', async () => {
    const session = await recorder.openSession({ principalId: null, principalName: 'a', tokenId: null, connection: 'api', protocol: 'http', clientAddr: null });
    const draft: InteractionDraft = {
      kind: 'http.request', decision: 'allow', rule: 'r', reason: `because ${SECRET}`, method: 'GET', target: `/keys/${SECRET}`,
      model: `gpt-${SECRET}`,
      summary: { http: { query: `key=${encoded}&page=1`, headers: { 'user-agent': SECRET } }, [SECRET]: [1, SECRET], entities: [] },
      requestBody: `raw ${SECRET}`, bytesIn: 1,
    };
    const open = await recorder.open(session.id, draft, { redact, secretsMasked: true });
    await open.complete({ status: 'complete', responseStatus: 200, responseBody: 'ok', errorCode: null, upstreamCode: SECRET, reason: `still ${SECRET}`, bytesOut: 2 });
    const [row] = await store.listInteractions(session.id);
    const { requestBody, ...rest } = row!;
    assert.ok(!JSON.stringify(rest).includes(SECRET), JSON.stringify(rest));
    assert.ok(!JSON.stringify(rest).includes(encoded));
    assert.equal(rest.model, 'gpt-[GITHUB_TOKEN]');
    assert.equal((rest.summary as any).http.query, 'key=[GITHUB_TOKEN]&page=1');
    // secretsMasked vouches for the bodies only: the body is left as the profile gave it.
    assert.equal(requestBody, `raw ${SECRET}`);
  });

  it('redacts a long body before clipping it, so a secret across the cut is not kept in part', async () => {
    const session = await recorder.openSession({ principalId: null, principalName: 'b', tokenId: null, connection: 'api', protocol: 'http', clientAddr: null });
    const body = `${'a'.repeat(250)}${SECRET}${'b'.repeat(100_000)}`;
    const open = await recorder.open(session.id, { kind: 'http.request', decision: 'allow', rule: null, reason: null, method: 'POST', target: '/', model: null, summary: {}, requestBody: body, bytesIn: body.length }, { redact });
    await open.complete({ status: 'complete', responseStatus: 200, responseBody: null, errorCode: null, bytesOut: 0 });
    const [row] = await store.listInteractions(session.id);
    assert.ok(!row!.requestBody!.includes(SECRET.slice(0, 6)), row!.requestBody!.slice(240, 300));
    // Cut to the bound exactly, the cut said in the marker beside the text (never inside it).
    assert.equal(Buffer.byteLength(row!.requestBody!), 256);
    assert.deepEqual(row!.bodyDigests?.request?.truncated && { ...row!.bodyDigests.request.truncated, sha256: '' }, { originalBytes: Buffer.byteLength(body), keptBytes: 256, sha256: '' });
  });
});
