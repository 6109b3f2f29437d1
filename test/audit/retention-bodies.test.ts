/**
 * The recording bound and its marker, and `audit.retention` as the config loader reads it: hostile
 * sizes, characters split by the bound, and retention values that must be refused by name.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import pino from 'pino';
import { sealInteraction, verifyChain } from '../../src/audit/hash-chain.ts';
import { Recorder } from '../../src/audit/recorder.ts';
import { bodiesState, bodyNote, boundBody, describeTruncation, formatBytes, headBytes } from '../../src/audit/retention-bodies.ts';
import { cutoffsAt, readPurgeRecord } from '../../src/audit/retention.ts';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { openStore } from '../../src/store/index.ts';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const KIB = 1024;

describe('recorded bodies: the bound and its marker', () => {
  const table: [string, string, number, { kept: number; marked: boolean }][] = [
    ['empty', '', 64, { kept: 0, marked: false }],
    ['one byte under the bound', 'a'.repeat(63), 64, { kept: 63, marked: false }],
    ['exactly the bound', 'a'.repeat(64), 64, { kept: 64, marked: false }],
    ['one byte over', 'a'.repeat(65), 64, { kept: 64, marked: true }],
    ['a 2-byte character across the bound', `${'a'.repeat(63)}é`, 64, { kept: 63, marked: true }],
    ['a 3-byte character across the bound', `${'a'.repeat(62)}€`, 64, { kept: 62, marked: true }],
    ['a 4-byte emoji across the bound', `${'a'.repeat(61)}😀`, 64, { kept: 61, marked: true }],
    ['a 4-byte emoji ending exactly at the bound', `${'a'.repeat(60)}😀`, 64, { kept: 64, marked: false }],
    ['only multi-byte characters', '€'.repeat(100), 64, { kept: 63, marked: true }],
    ['a bound of one byte and a 2-byte character', 'é', 1, { kept: 0, marked: true }],
    ['a 10 MB body', 'x'.repeat(10 * 1024 * 1024), 64 * KIB, { kept: 64 * KIB, marked: true }],
    ['a lone surrogate (not valid text) over the bound', `${'a'.repeat(70)}\uD800`, 64, { kept: 64, marked: true }],
  ];
  for (const [name, text, bound, want] of table) {
    it(name, () => {
      const { text: kept, digest } = boundBody(text, bound);
      assert.equal(Buffer.byteLength(kept!), want.kept);
      assert.ok(Buffer.byteLength(kept!) <= bound, 'never beyond the bound');
      assert.ok(!kept!.includes('\uFFFD'), 'no character kept in part');
      assert.equal(digest!.sha256, sha(kept!));
      assert.equal(digest!.bytes, want.kept);
      assert.equal(digest!.truncated !== undefined, want.marked);
      if (digest!.truncated) {
        assert.deepEqual(digest!.truncated, { originalBytes: Buffer.byteLength(text), keptBytes: want.kept, sha256: sha(text) });
        assert.ok(text.startsWith(kept!), 'what is kept is the start of the body');
      }
    });
  }

  it('null stays null, with no digest', () => {
    assert.deepEqual(boundBody(null, 64), { text: null, digest: null });
  });

  it('headBytes never splits a character, whatever the cut', () => {
    const text = 'aé€😀'.repeat(20);
    for (let cut = 0; cut <= Buffer.byteLength(text); cut++) {
      const head = headBytes(text, cut);
      assert.ok(Buffer.byteLength(head) <= cut);
      assert.ok(text.startsWith(head));
      assert.ok(Buffer.byteLength(head) > cut - 4, 'at most one character dropped');
    }
  });

  it('says what was cut in words replay and the CLI print', () => {
    assert.equal(describeTruncation({ originalBytes: 3_250_585, keptBytes: 65_536, sha256: 'x' }), '[truncated: kept 64 KiB of 3.1 MiB]');
    assert.equal(formatBytes(0), '0 bytes');
    assert.equal(formatBytes(1023), '1023 bytes');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10 * 1024 * 1024), '10 MiB');
    const digest = boundBody('a'.repeat(100), 64).digest!;
    assert.equal(bodyNote({ bodyDigests: { request: digest, response: null } }, 'request'), '[truncated: kept 64 bytes of 100 bytes]');
    assert.equal(bodyNote({ bodyDigests: { request: digest, response: null } }, 'response'), null);
    assert.equal(bodyNote({ bodyDigests: { request: digest, response: null }, bodiesPurgedAt: 5 }, 'request'), '[body removed by retention]');
    assert.equal(bodyNote({}, 'request'), null);
  });

  it('the recorder stores at most the bound, marked, and a secret past the scanned head never reaches the record', async () => {
    const store = await openStore({ sqlitePath: ':memory:' });
    try {
      const recorder = new Recorder(store, pino({ level: 'silent' }), 1024);
      const session = await recorder.openSession({ principalId: null, principalName: 'a', tokenId: null, connection: 'api', protocol: 'http', clientAddr: null });
      const secret = 'ghp_' + 'A'.repeat(36);
      const body = `${'€'.repeat(400)}${secret}${'z'.repeat(10 * 1024 * 1024)}${secret}`;
      const open = await recorder.open(session.id, { kind: 'http.request', decision: 'allow', rule: null, reason: null, method: 'POST', target: '/', model: null, summary: {}, requestBody: body, bytesIn: body.length }, { redact: (t) => t.replaceAll(secret, '[GITHUB_TOKEN]') });
      await open.complete({ status: 'complete', responseStatus: 200, responseBody: '€'.repeat(1000), errorCode: null, bytesOut: 3000 });
      const [row] = await store.listInteractions(session.id);
      assert.ok(Buffer.byteLength(row!.requestBody!) <= 1024);
      assert.ok(!row!.requestBody!.includes('ghp_'));
      assert.equal(row!.bodyDigests!.request!.truncated!.originalBytes, Buffer.byteLength(body));
      assert.equal(row!.bodyDigests!.response!.truncated!.keptBytes, 1023, 'a 3-byte character is not split at 1024');
      assert.equal(bodiesState(row!), 'intact');
      assert.deepEqual(verifyChain([row!]).problems, []);
    } finally {
      await store.close();
    }
  });

  it('the seal covers the digests: a body or a marker changed, or a body dropped without the purge mark, fails', () => {
    const digest = boundBody('hello', 64).digest!;
    const row = {
      id: 'int_1', sessionId: 'ses_1', seq: 1, kind: 'llm.chat', status: 'complete' as const, decision: 'allow', rule: null, reason: null, method: 'POST', target: '/', model: null,
      summary: {}, requestBody: 'hello', responseStatus: 200, responseBody: null, errorCode: null, upstreamCode: null, bytesIn: 5, bytesOut: 0,
      startedAt: 1, completedAt: 2, latencyMs: 1, prevHash: null, hash: '', bodyDigests: { request: digest, response: null },
    };
    row.hash = sealInteraction(row, null);
    assert.equal(verifyChain([row]).ok, true);
    assert.equal(verifyChain([{ ...row, requestBody: 'hellO' }]).ok, false);
    assert.equal(verifyChain([{ ...row, bodyDigests: { request: { ...digest, truncated: { originalBytes: 9, keptBytes: 5, sha256: 'x' } }, response: null } }]).ok, false);
    assert.equal(verifyChain([{ ...row, requestBody: null }]).ok, false);
    assert.equal(verifyChain([{ ...row, requestBody: null, bodiesPurgedAt: 3 }]).ok, true);
    assert.equal(verifyChain([{ ...row, responseBody: 'added' }]).ok, false);
  });
});

describe('audit.retention in gatehouse.yaml', () => {
  const load = (retention: string) => parseConfig(`audit:\n  retention:\n${retention}`, 'gatehouse.yaml', {});
  const DAY = 86_400_000;

  it('reads durations per kind, with the schedule and batch defaults', () => {
    const config = load('    interactions: 90d\n    sessions: 90d\n    events: 365d\n    bodies: 30d\n');
    assert.deepEqual(config.audit?.retention, { interactions: 90 * DAY, sessions: 90 * DAY, events: 365 * DAY, bodies: 30 * DAY, every: DAY, batch: 1000 });
  });

  const refused: [string, string][] = [
    ['zero', '    bodies: 0d\n'],
    ['a bare zero', '    bodies: 0\n'],
    ['negative', '    bodies: -1d\n'],
    ['exponent', '    bodies: 1e9d\n'],
    ['beyond a hundred years', '    bodies: 36501d\n'],
    ['too large to be a time', '    bodies: 99999999999999d\n'],
    ['"forever" (leave the kind out instead)', '    bodies: forever\n'],
    ['under a day (a typo for 90d?)', '    bodies: 90m\n'],
    ['a bare number', '    bodies: 30\n'],
    ['units in the wrong order', '    bodies: 1h1d\n'],
    ['an empty value', '    bodies: ""\n'],
    ['a list', '    bodies: [30d]\n'],
    ['an unknown kind', '    tokens: 30d\n'],
    ['sessions shorter than interactions', '    interactions: 90d\n    sessions: 30d\n'],
    ['sessions without interactions', '    sessions: 30d\n'],
    ['a purge more often than a minute', '    bodies: 30d\n    every: 10s\n'],
    ['a batch of zero', '    bodies: 30d\n    batch: 0\n'],
    ['a batch given as text', '    bodies: 30d\n    batch: "1000"\n'],
    ['a fractional batch', '    bodies: 30d\n    batch: 1.5\n'],
  ];
  for (const [name, yaml] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(() => load(yaml), (err: unknown) => err instanceof ConfigError && /retention/.test(err.message));
    });
  }

  it('the edges: exactly a day and exactly a hundred years', () => {
    assert.equal(load('    bodies: 1d\n').audit?.retention?.bodies, DAY);
    assert.equal(load('    bodies: 36500d\n').audit?.retention?.bodies, 36_500 * DAY);
  });
});

describe('cutoffs and purge records', () => {
  const DAY = 86_400_000;
  const retention = { interactions: 90 * DAY, sessions: 90 * DAY, events: 365 * DAY, bodies: 30 * DAY, every: DAY, batch: 1000 };

  it('each kind goes at its own age; the ledger only before every kind', () => {
    const now = 1_000 * DAY;
    assert.deepEqual(cutoffsAt(retention, now, {}), { bodies: 970 * DAY, interactions: 910 * DAY, sessions: 910 * DAY, events: 635 * DAY, ledger: 635 * DAY });
    assert.equal(cutoffsAt({ ...retention, events: undefined }, now, {}).ledger, undefined, 'events kept for good: every entry stays');
  });

  it('a retention made longer never brings back what an earlier purge removed', () => {
    const now = 1_000 * DAY;
    const earlier = { bodies: 990 * DAY, interactions: 950 * DAY };
    const out = cutoffsAt({ ...retention, bodies: 300 * DAY }, now, earlier);
    assert.equal(out.bodies, 990 * DAY);
    assert.equal(out.interactions, 950 * DAY);
  });

  const bad: [string, unknown][] = [
    ['not an object', null],
    ['cutoffs missing', { writers: [] }],
    ['writers missing', { cutoffs: {} }],
    ['an unknown kind', { cutoffs: { tokens: 1 }, writers: [] }],
    ['a cutoff as text', { cutoffs: { bodies: '1' }, writers: [] }],
    ['a range backwards', { cutoffs: {}, writers: [{ writer: 'A', fromSeq: 5, toSeq: 2, anchorHash: 'h' }] }],
    ['a negative seq', { cutoffs: {}, writers: [{ writer: 'A', fromSeq: -1, toSeq: 2, anchorHash: 'h' }] }],
    ['an anchor missing', { cutoffs: {}, writers: [{ writer: 'A', fromSeq: 1, toSeq: 2 }] }],
  ];
  for (const [name, details] of bad) {
    it(`a purge record with ${name} is not one`, () => {
      assert.equal(readPurgeRecord({ action: 'audit.purged', details: details as Record<string, unknown> }), null);
    });
  }

  it('another action is never a purge record, whatever it holds', () => {
    assert.equal(readPurgeRecord({ action: 'createToken', details: { cutoffs: {}, writers: [] } }), null);
  });
});
