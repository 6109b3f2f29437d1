/** Hostile input to the trail's edges: the sink file, key files, the config block, forged and replayed checkpoints. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkpointProblem, loadSigningKey, parsePublicKeys, signCheckpoint } from '../../src/audit/checkpoints.ts';
import { parseCheckpointLines } from '../../src/audit/offline-verify.ts';
import { parseConfig } from '../../src/config/load.ts';
import { newKey } from './trail-support.ts';

const key = newKey();
const keys = new Map([[key.keyId, key.publicKey]]);
const good = signCheckpoint({ writer: 'local', seq: 3, headHash: 'a'.repeat(64), at: 1, prevCheckpointHash: null, keyId: key.keyId }, key);

describe('the checkpoint sink file', () => {
  const refused: [string, string][] = [
    ['not JSON', 'nope'],
    ['a JSON array', '[1,2]'],
    ['null', 'null'],
    ['seq as a string', JSON.stringify({ ...good, seq: '3' })],
    ['seq fractional', JSON.stringify({ ...good, seq: 3.5 })],
    ['seq beyond safe integers', JSON.stringify({ ...good, seq: 2 ** 60 })],
    ['a missing signature', JSON.stringify({ ...good, signature: undefined })],
    ['a numeric writer', JSON.stringify({ ...good, writer: 7 })],
    ['prevCheckpointHash as an object', JSON.stringify({ ...good, prevCheckpointHash: {} })],
    ['a truncated line', JSON.stringify(good).slice(0, 40)],
  ];
  for (const [what, line] of refused) {
    it(`refuses ${what}, naming the line`, () => {
      assert.throws(() => parseCheckpointLines(`${JSON.stringify(good)}\n${line}\n`, 'sink.jsonl'), (err: Error & { code?: string }) => err.code === 'config_invalid' && /line 2 of sink\.jsonl/.test(err.message));
    });
  }

  it('reads blank lines and CRLF-free JSON lines; __proto__ keys do not pollute', () => {
    const rows = parseCheckpointLines(`\n${JSON.stringify(good)}\n\n{"__proto__":{"polluted":1},${JSON.stringify(good).slice(1)}\n`, 'sink');
    assert.equal(rows.length, 2);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(checkpointProblem(rows[1]!, keys), null);
  });
});

describe('keys', () => {
  it('refuses an RSA private key, garbage, and an empty key, without echoing them', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => loadSigningKey(rsa, 'audit.checkpoints.key'), /rsa key; checkpoints are signed with Ed25519/);
    for (const bad of ['not a key', '', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----']) {
      assert.throws(() => loadSigningKey(bad, 'audit.checkpoints.key'), (err: Error) => /not a PEM private key/.test(err.message) && (bad === '' || !err.message.includes(bad)));
    }
  });

  it('reads every public key in one file, refuses a file with none or with a non-Ed25519 key', () => {
    const other = newKey();
    assert.deepEqual([...parsePublicKeys(`${key.publicPem}\nnoise\n${other.publicPem}`).keys()].sort(), [key.keyId, other.keyId].sort());
    assert.throws(() => parsePublicKeys(''), /no PEM public key/);
    assert.throws(() => parsePublicKeys(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()), /ec public key/);
  });

  it('a private key is never printed as the public one', () => {
    assert.doesNotMatch(key.publicPem, /PRIVATE/);
  });
});

describe('checkpoints forged or replayed', () => {
  it('each altered field fails, and a field moved to another writer fails', () => {
    for (const change of [{ seq: 4 }, { headHash: 'b'.repeat(64) }, { at: 2 }, { prevCheckpointHash: 'c'.repeat(64) }, { writer: 'rep_other' }, { keyId: 'ed25519:0000000000000000' }]) {
      assert.notEqual(checkpointProblem({ ...good, ...change }, keys), null, JSON.stringify(change));
    }
  });

  it('a signature lifted from another checkpoint fails', () => {
    const other = signCheckpoint({ writer: 'local', seq: 4, headHash: 'd'.repeat(64), at: 1, prevCheckpointHash: good.hash, keyId: key.keyId }, key);
    assert.match(checkpointProblem({ ...good, signature: other.signature }, keys)!, /signature does not verify/);
  });

  it('a signature of the wrong type or length does not throw', () => {
    for (const signature of ['', 'A', 'x'.repeat(10_000), 12 as unknown as string, null as unknown as string]) {
      assert.match(checkpointProblem({ ...good, signature }, keys)!, /signature does not verify/);
    }
  });
});

describe('the audit config block', () => {
  const base = 'connections: []\n';
  it('takes a key file, a sink and retired keys', () => {
    const config = parseConfig(`${base}audit:\n  checkpoints:\n    keyFile: ./audit.pem\n    every: 1m\n    sink: ./cp.jsonl\n    trustedKeys: [./old.pub]\n`, 't.yaml', {});
    assert.equal(config.audit?.checkpoints?.every, 60_000);
  });
  it('refuses both a key and a key file, neither, and unknown fields', () => {
    for (const block of ['    key: x\n    keyFile: y\n', '    every: 1m\n', '    keyFile: y\n    secret: z\n']) {
      assert.throws(() => parseConfig(`${base}audit:\n  checkpoints:\n${block}`, 't.yaml', {}), (err: Error & { code?: string }) => err.code === 'config_invalid');
    }
  });
});
