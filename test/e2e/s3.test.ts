/**
 * Object storage end to end: the official AWS SDK (default checksum settings: CRC32, streamed
 * bodies as aws-chunked with trailers) through the gateway to s3rver on loopback. s3rver neither
 * verifies Signature V4 nor decodes aws-chunked: the gateway's decoding is what lets it store the
 * SDK's uploads at all, and what reaches its files is what "stored upstream" means here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { request as httpRequest } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { pollUntil } from '../support/poll.ts';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startBench, storedUpstream, type Bench } from '../adapters/s3/support.ts';
import type { Person } from '../support/people.ts';

const GITHUB_TOKEN = 'ghp_a1B2c3D4e5a1B2c3D4e5a1B2c3D4e5abcdef';

const POLICY = `
identity:
  roles:
    - group: engineering
      role: user
      connections: [store, masked, ranges]
    - group: oncall
      role: approver
policy:
  rules:
    - name: own-prefix-only
      match: { interactions: [s3.request] }
      when: "request.s3.operation in ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'] && !request.s3.key.startsWith('traces/' + identity.name + '/')"
      action: deny
      reason: agents write only under traces/<their name>/
    - name: deletes-need-approval
      match: { interactions: [s3.request] }
      when: "request.s3.operation == 'DeleteObject'"
      action: approve
      approvers: [oncall]
      timeout: 15m
    - name: masked-storage
      match: { connections: [masked, ranges] }
      action: allow
      mask: secrets
    - name: allow-rest
      action: allow
`;

async function refusal(call: Promise<unknown>): Promise<{ name: string; status: number | undefined; gatehouse: string | undefined }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof S3ServiceException)) throw err;
    return { name: err.name, status: err.$metadata.httpStatusCode, gatehouse: (err as unknown as { GatehouseCode?: string }).GatehouseCode };
  }
  assert.fail('expected the request to be refused');
}

describe('S3 through the gateway with the AWS SDK and s3rver', () => {
  let b: Bench;
  let ada: Person;
  let bob: Person;
  let adaKey: { accessKeyId: string; secretAccessKey: string; tokenId: string };

  before(async () => {
    b = await startBench({ policyYaml: POLICY });
    ada = await b.person('ada', ['engineering']);
    bob = await b.person('bob', ['oncall']);
    adaKey = await b.credential('store', { who: ada, name: 'trace-writer' });
  });
  after(async () => {
    await b?.close();
  });

  it('puts, gets, lists and heads an object; the object carries who wrote it', async () => {
    const s3 = b.client('store', adaKey);
    const body = JSON.stringify({ step: 1, thought: 'hello' });
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json', Body: body, ContentType: 'application/json' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json' }));
    assert.equal(await got.Body!.transformToString(), body);
    assert.equal(got.Metadata?.['gatehouse-principal'], 'ada');
    assert.equal(got.Metadata?.['gatehouse-agent'], 'trace-writer');
    assert.match(String(got.Metadata?.['gatehouse-request']), /^int_/);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'traces', Prefix: 'traces/ada/' }));
    assert.deepEqual(listed.Contents?.map((c) => c.Key), ['traces/ada/run-1.json']);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json' }));
    assert.equal(head.ContentLength, Buffer.byteLength(body));
  });

  it('decodes a streamed (aws-chunked, CRC32 trailer) upload that s3rver could not read itself', async () => {
    const s3 = b.client('store', adaKey);
    const modes: string[] = [];
    s3.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers: Record<string, string> }).headers;
        modes.push(`${headers['x-amz-content-sha256']} ${headers['content-encoding'] ?? ''} ${headers['x-amz-trailer'] ?? ''}`);
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low' },
    );
    const text = 'line one\nline two\n'.repeat(5000);
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/streamed.txt', Body: Readable.from([Buffer.from(text)]), ContentLength: Buffer.byteLength(text), ContentType: 'text/plain' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/streamed.txt' }));
    assert.equal(await got.Body!.transformToString(), text);
    assert.equal(modes[0], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked x-amz-checksum-crc32', 'the SDK sent what this test is about');
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes('x-amz-checksum-crc32:'), 'no chunk framing reached the upstream');
  });

  it('links the object key to the request that wrote it: one query, and the CLI-facing API', async () => {
    const s3 = b.client('store', adaKey);
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/linked.json', Body: '{"a":1}', ContentType: 'application/json' }));
    const writes = await b.store.listS3ObjectWrites('traces', 'traces/ada/linked.json');
    assert.equal(writes.length, 1);
    const interaction = await b.store.getInteraction(writes[0]!.interactionId);
    assert.equal(interaction?.kind, 's3.request');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'traces', Key: 'traces/ada/linked.json' }));
    assert.equal(head.Metadata?.['gatehouse-request'], writes[0]!.interactionId);
    const { status, json } = await b.api('GET', `/s3/objects?bucket=traces&key=${encodeURIComponent('traces/ada/linked.json')}`);
    assert.equal(status, 200);
    assert.equal(json.writes[0].principal, 'ada');
    assert.equal(json.writes[0].agent, 'trace-writer');
  });

  it('denies a write outside the allowed prefix, and nothing reaches the upstream', async () => {
    const s3 = b.client('store', adaKey);
    const refused = await refusal(s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/bob/forged.json', Body: '{"x":"not-mine-marker"}' })));
    assert.equal(refused.status, 403);
    assert.equal(refused.name, 'AccessDenied');
    assert.equal(refused.gatehouse, 'policy_denied');
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes('not-mine-marker'));
  });

  it('refuses a forged signature and one signed too long ago', async () => {
    const forged = b.client('store', { accessKeyId: adaKey.accessKeyId, secretAccessKey: `${adaKey.secretAccessKey.slice(0, -2)}xx` });
    const bad = await refusal(forged.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json' })));
    assert.equal(bad.status, 401);
    assert.equal(bad.gatehouse, 'auth_invalid');
    const stale = b.client('store', adaKey, { systemClockOffset: b.clock.at - Date.now() - 20 * 60_000 });
    const late = await refusal(stale.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json' })));
    assert.equal(late.gatehouse, 'auth_expired');
    const unknown = b.client('store', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: adaKey.secretAccessKey });
    assert.equal((await refusal(unknown.send(new GetObjectCommand({ Bucket: 'traces', Key: 'x' })))).gatehouse, 'auth_invalid');
  });

  it('holds a delete for approval, bound to that bucket and key; approved, the same delete runs once', async () => {
    const s3 = b.client('store', adaKey);
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/old.json', Body: '{}' }));
    const held = await refusal(s3.send(new DeleteObjectCommand({ Bucket: 'traces', Key: 'traces/ada/old.json' })));
    assert.equal(held.gatehouse, 'approval_required');
    const pending = (await b.api('GET', '/approvals?status=pending')).json.approvals as { id: string }[];
    assert.equal(pending.length, 1);
    // Another key is another request: the approval does not cover it.
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/other.json', Body: '{}' }));
    assert.equal((await refusal(s3.send(new DeleteObjectCommand({ Bucket: 'traces', Key: 'traces/ada/other.json' })))).gatehouse, 'approval_required');
    assert.equal((await b.api('POST', `/approvals/${pending[0]!.id}/approve`, {}, bob.token)).status, 200);
    await s3.send(new DeleteObjectCommand({ Bucket: 'traces', Key: 'traces/ada/old.json' }));
    assert.equal((await refusal(s3.send(new HeadObjectCommand({ Bucket: 'traces', Key: 'traces/ada/old.json' })))).status, 404);
    // Used once: the same delete again is held again.
    assert.equal((await refusal(s3.send(new DeleteObjectCommand({ Bucket: 'traces', Key: 'traces/ada/old.json' })))).gatehouse, 'approval_required');
  });

  it('masks secrets in objects written and read under a profile; the upstream never holds them', async () => {
    const key = await b.credential('masked', { who: ada });
    const s3 = b.client('masked', key);
    const body = `{"note":"deploy with ${GITHUB_TOKEN} today"}\n`;
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/masked.jsonl', Body: body, ContentType: 'application/x-ndjson' }));
    const got = await (await s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/masked.jsonl' }))).Body!.transformToString();
    assert.ok(!got.includes(GITHUB_TOKEN));
    assert.match(got, /\[GITHUB_TOKEN\]/);
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes(GITHUB_TOKEN));
  });

  it('refuses under a profile: binary types, UTF-16, gzip, Range reads (unless the connection allows them)', async () => {
    const key = await b.credential('masked', { who: ada });
    const s3 = b.client('masked', key);
    for (const [ContentType, ContentEncoding] of [['application/octet-stream', undefined], ['text/plain; charset=utf-16', undefined], ['text/plain', 'gzip']] as const) {
      const refused = await refusal(s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/odd', Body: 'x', ContentType, ...(ContentEncoding ? { ContentEncoding } : {}) })));
      assert.equal(refused.gatehouse, 'masking_failed', ContentType);
    }
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/range.txt', Body: 'abcdefghij', ContentType: 'text/plain' }));
    assert.equal((await refusal(s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/range.txt', Range: 'bytes=0-3' })))).gatehouse, 'masking_failed');
    const ranges = b.client('ranges', await b.credential('ranges', { who: ada }));
    const part = await ranges.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/range.txt', Range: 'bytes=0-3' }));
    assert.equal(await part.Body!.transformToString(), 'abcd');
  });

  it('masks a 16 MiB multipart upload with a secret split across the part boundary', async () => {
    const key = await b.credential('masked', { who: ada });
    const s3 = b.client('masked', key);
    const partSize = 8 * 1024 * 1024;
    const half = 20;
    const filler = (n: number) => 'trace line of an agent run\n'.repeat(Math.ceil(n / 27)).slice(0, n);
    const part1 = `${filler(partSize - half - 1)} ${GITHUB_TOKEN.slice(0, half)}`;
    const part2 = `${GITHUB_TOKEN.slice(half)} ${filler(partSize)}`;
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'traces', Key: 'traces/ada/big.txt', ContentType: 'text/plain' }));
    const parts = [];
    for (const [i, body] of [part1, part2].entries()) {
      const sent = await s3.send(new UploadPartCommand({ Bucket: 'traces', Key: 'traces/ada/big.txt', UploadId: created.UploadId, PartNumber: i + 1, Body: body }));
      parts.push({ PartNumber: i + 1, ETag: sent.ETag, ChecksumCRC32: sent.ChecksumCRC32 });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'traces', Key: 'traces/ada/big.txt', UploadId: created.UploadId, MultipartUpload: { Parts: parts } }));
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes(GITHUB_TOKEN.slice(0, half)), 'the first half of the secret never reached the upstream');
    const plain = b.client('store', adaKey);
    const got = await (await plain.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/big.txt' }))).Body!.transformToString();
    assert.ok(got.length > 16 * 1024 * 1024 - 100);
    assert.ok(!got.includes(GITHUB_TOKEN.slice(0, half)) && !got.includes(GITHUB_TOKEN.slice(half)));
    assert.match(got, /\[GITHUB_TOKEN\]/);
    const writes = await b.store.listS3ObjectWrites('traces', 'traces/ada/big.txt');
    assert.equal(writes.length, 1);
  });

  it('sends a part that masking shrank below 5 MiB as its own part; the upload still completes', async () => {
    const key = await b.credential('masked', { who: ada });
    const s3 = b.client('masked', key);
    const fiveMiB = 5 * 1024 * 1024;
    // Exactly 5 MiB with a secret inside: masked, the part is shorter than S3's minimum for non-final parts.
    const head = `secret ${GITHUB_TOKEN} end\n`;
    const part1 = head + 'x'.repeat(fiveMiB - head.length - 1) + '\n';
    const part2 = 'tail of the object\n';
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'traces', Key: 'traces/ada/five.txt', ContentType: 'text/plain' }));
    const parts = [];
    for (const [i, body] of [part1, part2].entries()) {
      const sent = await s3.send(new UploadPartCommand({ Bucket: 'traces', Key: 'traces/ada/five.txt', UploadId: created.UploadId, PartNumber: i + 1, Body: body }));
      parts.push({ PartNumber: i + 1, ETag: sent.ETag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'traces', Key: 'traces/ada/five.txt', UploadId: created.UploadId, MultipartUpload: { Parts: parts } }));
    const plain = b.client('store', adaKey);
    const got = await (await plain.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/five.txt' }))).Body!.transformToString();
    assert.equal(got, part1.replace(GITHUB_TOKEN, '[GITHUB_TOKEN]') + part2);
    assert.ok(Buffer.byteLength(part1.replace(GITHUB_TOKEN, '[GITHUB_TOKEN]')) < fiveMiB);
  });

  it('serves presigned GET and PUT URLs it issued, and refuses them once expired', async () => {
    const s3 = b.client('store', adaKey);
    await s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/shared.txt', Body: 'presigned content', ContentType: 'text/plain' }));
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/shared.txt' }), { expiresIn: 60, signingDate: new Date(b.clock.at) });
    const ok = await fetch(getUrl);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'presigned content');
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'traces', Key: 'traces/ada/uploaded.txt' }), { expiresIn: 60, signingDate: new Date(b.clock.at) });
    assert.equal((await fetch(putUrl, { method: 'PUT', body: 'via presigned put' })).status, 200);
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/uploaded.txt' }))).Body!.transformToString(), 'via presigned put');
    b.clock.at += 61_000;
    try {
      const expired = await fetch(getUrl);
      assert.equal(expired.status, 401);
      assert.equal(expired.headers.get('x-gatehouse-error'), 'auth_expired');
    } finally {
      b.clock.at -= 61_000;
    }
    const tampered = getUrl.replace('shared.txt', 'uploaded.txt');
    assert.equal((await fetch(tampered)).headers.get('x-gatehouse-error'), 'auth_invalid');
  });

  it('aborts an upload in flight when its credential is revoked; nothing is stored', async () => {
    const carol = await b.person('carol', ['engineering']);
    const key = await b.credential('store', { who: carol });
    const s3 = b.client('store', key);
    const body = new PassThrough();
    body.write('first part of a long trace revoked-marker ');
    const upload = s3.send(new PutObjectCommand({ Bucket: 'traces', Key: 'traces/carol/long.txt', Body: body, ContentLength: 10 * 1024 * 1024, ContentType: 'text/plain' }));
    const outcome = upload.then(
      () => 'stored',
      (err: Error) => err.name,
    );
    let interactionId = '';
    await pollUntil(async () => {
      for (const session of await b.store.listSessions({ limit: 50, principalName: 'carol' })) {
        const open = (await b.store.listInteractions(session.id)).find((i) => i.status === 'open');
        if (open) interactionId = open.id;
      }
      return interactionId !== '';
    }, 'the upload is under way');
    assert.equal((await b.api('DELETE', `/tokens/${key.tokenId}`)).status, 200);
    assert.notEqual(await outcome, 'stored');
    body.destroy();
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes('revoked-marker'));
    await pollUntil(async () => (await b.store.getInteraction(interactionId))?.status !== 'open', 'the interaction is completed');
    const recorded = await b.store.getInteraction(interactionId);
    assert.equal(recorded?.errorCode, 'auth_revoked');
    // The credential stays refused afterwards.
    assert.equal((await refusal(s3.send(new GetObjectCommand({ Bucket: 'traces', Key: 'traces/ada/run-1.json' })))).gatehouse, 'auth_revoked');
  });

  /** A request signed here with the SDK's own signer, then sent raw so its headers can be bent. */
  async function raw(method: string, path: string, headers: Record<string, string>, body = '', bend?: (h: [string, string][]) => [string, string][]): Promise<{ status: number; code: string | null }> {
    const url = new URL(`${b.url}/s3/store${path}`);
    const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: adaKey, sha256: Sha256, uriEscapePath: false });
    const signed = await signer.sign(
      { method, protocol: 'http:', hostname: url.host, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers } },
      { signingDate: new Date(b.clock.at) },
    );
    let list = Object.entries(signed.headers) as [string, string][];
    if (bend) list = bend(list);
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { method, headers: list.flat() as unknown as Record<string, string> }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (res.headers['x-gatehouse-error'] as string | undefined) ?? null }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('refuses bent raw requests: a second Authorization, a second x-amz-date, gatehouse metadata from the client', async () => {
    assert.equal((await raw('GET', '/traces/traces/ada/run-1.json', {})).status, 200, 'the raw helper signs correctly');
    const twice = await raw('GET', '/traces/traces/ada/run-1.json', {}, '', (h) => [...h, ['Authorization', h.find(([k]) => k === 'authorization')![1]]]);
    assert.equal(twice.code, 'bad_request');
    const dates = await raw('GET', '/traces/traces/ada/run-1.json', {}, '', (h) => [...h, ['x-amz-date', '20200101T000000Z']]);
    assert.equal(dates.code, 'bad_request');
    const meta = await raw('PUT', '/traces/traces/ada/meta.txt', { 'x-amz-meta-gatehouse-principal': 'someone-else', 'content-length': '2' }, 'hi');
    assert.equal(meta.code, 'bad_request');
    const unsignedHeader = await raw('GET', '/traces/traces/ada/run-1.json', {}, '', (h) => h.map(([k, v]) => [k, k === 'x-amz-content-sha256' ? 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' : v]));
    assert.equal(unsignedHeader.code, 'auth_invalid');
  });

  it('refuses a signed body hash that does not match what arrives, and a CRC32 header that does not', async () => {
    const wrong = 'a'.repeat(64);
    assert.equal((await raw('PUT', '/traces/traces/ada/hash.txt', { 'x-amz-content-sha256': wrong, 'content-length': '5' }, 'hello')).code, 'bad_request');
    assert.equal((await raw('PUT', '/traces/traces/ada/crc.txt', { 'x-amz-checksum-crc32': 'AAAAAA==', 'content-length': '5' }, 'hello')).code, 'bad_request');
    assert.ok(!(await storedUpstream(b.upstream.dir)).includes('traces/ada/hash.txt'));
  });
});
