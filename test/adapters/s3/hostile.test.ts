/**
 * Hostile input for the S3 adapter's wire parts: aws-chunked bodies (signatures, truncation,
 * sizes, trailers), signature parsing (duplicates, both forms at once) and object names
 * (path steps, encodings, normalisation, length, buckets). Each case must be refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { decodeAwsChunked, MAX_CHUNK_BYTES, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER } from '../../../src/adapters/s3/aws-chunked.ts';
import { checkTime, parseAuth, type SignedRequest } from '../../../src/adapters/s3/sigv4.ts';
import { classifyS3 } from '../../../src/adapters/s3/classify.ts';
import { textBodyProblem } from '../../../src/adapters/s3/wire.ts';
import { rewriteCompletion } from '../../../src/adapters/s3/multipart.ts';
import { tokenIdOf, accessKeyIdOf } from '../../../src/adapters/s3/credential-key.ts';

const scope = { accessKeyId: 'GHS3TEST', date: '20261207', region: 'us-east-1', service: 's3' };
const amzDate = '20261207T120000Z';
const signingDate = new Date(Date.UTC(2026, 11, 7, 12));
const secret = 'test-secret';
const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId: scope.accessKeyId, secretAccessKey: secret }, sha256: Sha256, uriEscapePath: false });
const SEED = 'a'.repeat(64);
const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const sign = (text: string) => signer.sign(text, { signingDate, signingRegion: 'us-east-1', signingService: 's3' });
const crcOf = (data: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
};

/** A signed aws-chunked body, built the simple way the spec describes, optionally with a trailer. */
async function signedBody(chunks: Buffer[], trailer?: { name: string; value: string }): Promise<Buffer> {
  const parts: Buffer[] = [];
  let previous = SEED;
  for (const data of [...chunks, Buffer.alloc(0)]) {
    const signature = await sign(['AWS4-HMAC-SHA256-PAYLOAD', amzDate, '20261207/us-east-1/s3/aws4_request', previous, sha(''), sha(data)].join('\n'));
    previous = signature;
    parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${signature}\r\n`), data);
    if (data.length > 0) parts.push(Buffer.from('\r\n'));
  }
  if (trailer) {
    const line = `${trailer.name}:${trailer.value}\n`;
    const signature = await sign(['AWS4-HMAC-SHA256-TRAILER', amzDate, '20261207/us-east-1/s3/aws4_request', previous, sha(line)].join('\n'));
    parts.push(Buffer.from(`${trailer.name}:${trailer.value}\r\nx-amz-trailer-signature:${signature}\r\n\r\n`));
  } else {
    parts.push(Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function unsignedTrailerBody(data: Buffer, checksum: string): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`)]);
}

async function decode(body: Buffer, mode: string, decodedLength: number, trailer: string | null = null, pieces = 7): Promise<Buffer> {
  const split: Buffer[] = [];
  for (let i = 0; i < body.length; i += pieces) split.push(body.subarray(i, i + pieces));
  const out: Buffer[] = [];
  for await (const chunk of decodeAwsChunked(Readable.from(split), { mode, seedSignature: SEED, scope, amzDate, signer, signingDate, decodedLength, trailer })) out.push(chunk);
  return Buffer.concat(out);
}

async function code(run: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await run();
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'accepted';
}

describe('aws-chunked decoding', () => {
  const data = Buffer.from('hello object storage');

  it('accepts a correctly signed body split at every few bytes, and the unsigned trailer form', async () => {
    assert.deepEqual(await decode(await signedBody([data.subarray(0, 5), data.subarray(5)]), STREAMING_SIGNED, data.length), data);
    assert.deepEqual(await decode(await signedBody([data], { name: 'x-amz-checksum-crc32', value: crcOf(data) }), STREAMING_SIGNED_TRAILER, data.length, 'x-amz-checksum-crc32', 3), data);
    assert.deepEqual(await decode(unsignedTrailerBody(data, crcOf(data)), STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32', 1), data);
  });

  it('refuses a chunk whose signature does not match (data changed after signing)', async () => {
    const body = await signedBody([data]);
    const tampered = Buffer.from(body.toString('latin1').replace('hello', 'HELLO'), 'latin1');
    assert.equal(await code(() => decode(tampered, STREAMING_SIGNED, data.length)), 'auth_invalid');
  });

  it('refuses chunks reordered (the signatures chain)', async () => {
    const a = await signedBody([Buffer.from('first'), Buffer.from('second')]);
    const text = a.toString('latin1');
    const [h1, d1, h2, d2] = text.split('\r\n');
    const swapped = Buffer.from([h2, d2, h1, d1, ...text.split('\r\n').slice(4)].join('\r\n'), 'latin1');
    assert.equal(await code(() => decode(swapped, STREAMING_SIGNED, 11)), 'auth_invalid');
  });

  it('refuses a chunk signed with another secret', async () => {
    const other = new SignatureV4({ service: 's3', region: 'us-east-1', credentials: { accessKeyId: scope.accessKeyId, secretAccessKey: 'other' }, sha256: Sha256, uriEscapePath: false });
    const body = await signedBody([data]);
    const out: Buffer[] = [];
    const run = async () => {
      for await (const c of decodeAwsChunked(Readable.from([body]), { mode: STREAMING_SIGNED, seedSignature: SEED, scope, amzDate, signer: other, signingDate, decodedLength: data.length, trailer: null })) out.push(c);
    };
    assert.equal(await code(run), 'auth_invalid');
    assert.equal(out.length, 0, 'no data of a chunk whose signature failed was released');
  });

  it('refuses a truncated body (inside a chunk, inside a header, before the final chunk)', async () => {
    const body = await signedBody([data]);
    for (const cut of [10, 90, body.length - 3]) assert.equal(await code(() => decode(body.subarray(0, cut), STREAMING_SIGNED, data.length)), 'bad_request', String(cut));
  });

  it('refuses an oversized chunk length without buffering it, and a malformed size', async () => {
    const huge = Buffer.from(`${(MAX_CHUNK_BYTES + 1).toString(16)};chunk-signature=${'0'.repeat(64)}\r\n`);
    assert.equal(await code(() => decode(huge, STREAMING_SIGNED, 10)), 'bad_request');
    assert.equal(await code(() => decode(Buffer.from(`ffffffffff;chunk-signature=${'0'.repeat(64)}\r\n`), STREAMING_SIGNED, 10)), 'bad_request');
    assert.equal(await code(() => decode(Buffer.from('-5\r\nxx'), STREAMING_UNSIGNED_TRAILER, 2, 'x-amz-checksum-crc32')), 'bad_request');
    assert.equal(await code(() => decode(Buffer.from(`${'a'.repeat(5000)}`), STREAMING_UNSIGNED_TRAILER, 2, 'x-amz-checksum-crc32')), 'bad_request');
  });

  it('refuses a trailing checksum that does not match, a missing one, and one sent twice', async () => {
    assert.equal(await code(() => decode(unsignedTrailerBody(data, crcOf(Buffer.from('other'))), STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32')), 'bad_request');
    const missing = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n0\r\n\r\n')]);
    assert.equal(await code(() => decode(missing, STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32')), 'bad_request');
    const twice = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crcOf(data)}\r\nx-amz-checksum-crc32:${crcOf(data)}\r\n\r\n`)]);
    assert.equal(await code(() => decode(twice, STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32')), 'bad_request');
  });

  it('refuses a signed trailer whose signature does not match its checksum line', async () => {
    const body = (await signedBody([data], { name: 'x-amz-checksum-crc32', value: crcOf(data) })).toString('latin1');
    const forged = Buffer.from(body.replace(/x-amz-trailer-signature:[0-9a-f]{64}/, `x-amz-trailer-signature:${'1'.repeat(64)}`), 'latin1');
    assert.equal(await code(() => decode(forged, STREAMING_SIGNED_TRAILER, data.length, 'x-amz-checksum-crc32')), 'auth_invalid');
  });

  it('refuses a body longer or shorter than x-amz-decoded-content-length, and bytes after the end', async () => {
    const body = await signedBody([data]);
    assert.equal(await code(() => decode(body, STREAMING_SIGNED, data.length - 1)), 'bad_request');
    assert.equal(await code(() => decode(body, STREAMING_SIGNED, data.length + 1)), 'bad_request');
    assert.equal(await code(() => decode(Buffer.concat([body, Buffer.from('smuggled')]), STREAMING_SIGNED, data.length)), 'bad_request');
  });

  it('refuses CRC32C and CRC64NVME trailers (no implementation here) instead of skipping them', async () => {
    assert.equal(await code(() => decode(unsignedTrailerBody(data, 'AAAAAA=='), STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32c')), 'bad_request');
    assert.equal(await code(() => decode(unsignedTrailerBody(data, 'AAAAAA=='), STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc64nvme')), 'bad_request');
  });

  it('refuses a chunk-signature in an unsigned body and an unsigned chunk in a signed one', async () => {
    const signed = await signedBody([data]);
    assert.equal(await code(() => decode(signed, STREAMING_UNSIGNED_TRAILER, data.length, 'x-amz-checksum-crc32')), 'bad_request');
    assert.equal(await code(() => decode(unsignedTrailerBody(data, crcOf(data)), STREAMING_SIGNED, data.length)), 'bad_request');
  });
});

const request = (over: Partial<SignedRequest>): SignedRequest => ({ method: 'GET', rawPath: '/s3/store/b/k', query: [], headers: {}, ...over });
const AUTH = `AWS4-HMAC-SHA256 Credential=GHS3X/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;

describe('signature parsing', () => {
  it('refuses header and query signatures at once', async () => {
    const both = request({ headers: { authorization: AUTH, 'x-amz-date': amzDate, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, query: [['X-Amz-Signature', '0'.repeat(64)]] });
    assert.equal(await code(() => parseAuth(both)), 'bad_request');
  });

  it('refuses an Authorization header naming a field twice, other algorithms, and no signature at all', async () => {
    const twice = `${AUTH}, Signature=${'1'.repeat(64)}`;
    assert.equal(await code(() => parseAuth(request({ headers: { authorization: twice, 'x-amz-date': amzDate, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }))), 'auth_invalid');
    assert.equal(await code(() => parseAuth(request({ headers: { authorization: 'AWS GHS3X:abc' } }))), 'auth_invalid');
    assert.equal(await code(() => parseAuth(request({}))), 'auth_missing');
  });

  it('refuses a presigned URL naming a parameter twice, or valid longer than a week', async () => {
    const base: [string, string][] = [['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'], ['X-Amz-Credential', 'GHS3X/20261207/us-east-1/s3/aws4_request'], ['X-Amz-Date', amzDate], ['X-Amz-SignedHeaders', 'host'], ['X-Amz-Signature', '0'.repeat(64)]];
    assert.equal(await code(() => parseAuth(request({ query: [...base, ['X-Amz-Expires', '60'], ['X-Amz-Expires', '604800']] }))), 'auth_invalid');
    assert.equal(await code(() => parseAuth(request({ query: [...base, ['X-Amz-Expires', '604801']] }))), 'auth_invalid');
  });

  it('checks the time: skew both ways, scope date against X-Amz-Date', async () => {
    const auth = parseAuth(request({ headers: { authorization: AUTH, 'x-amz-date': amzDate, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }));
    assert.equal(await code(() => checkTime(auth, signingDate.getTime() + 16 * 60_000)), 'auth_expired');
    assert.equal(await code(() => checkTime(auth, signingDate.getTime() - 16 * 60_000)), 'auth_expired');
    assert.equal(await code(() => checkTime(auth, signingDate.getTime() + 60_000)), 'accepted');
    const otherDay = parseAuth(request({ headers: { authorization: AUTH.replace('20261207/', '20261208/'), 'x-amz-date': amzDate, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }));
    assert.equal(await code(() => checkTime(otherDay, signingDate.getTime())), 'auth_invalid');
  });

  it('maps access key ids to token ids one to one, and refuses look-alikes', () => {
    const id = 'tok_0190a1b2c3d4e5f6a7b8c9d0e1';
    assert.equal(tokenIdOf(accessKeyIdOf(id)), id);
    for (const bad of ['GHS3', 'AKIAIOSFODNN7EXAMPLE', `${accessKeyIdOf(id).toLowerCase()}`, `${accessKeyIdOf(id)}0`, 'GHS3../../etc']) assert.equal(tokenIdOf(bad), null, bad);
  });
});

describe('object names and bodies', () => {
  const classify = (method: string, path: string, query = '', headers: Record<string, string> = {}) => classifyS3(method, path, query, headers);

  it('refuses keys with path steps, control characters, non-NFC text, more than 1024 bytes', async () => {
    for (const path of ['/b1b/a/../b', '/b1b/./x', '/b1b/a/%2E%2E/b', '/b1b/x%00y', `/b1b/${'é'.repeat(600)}`, '/b1b/cafe%CC%81']) {
      assert.equal(await code(() => classify('GET', path)), 'bad_request', path);
    }
    assert.equal(await code(() => classify('GET', '/b1b/%E0%A4%A')), 'bad_request');
  });

  it('reads %2F as / and forwards the key in one canonical encoding', () => {
    const t = classify('PUT', '/b1b/traces%2Fada/x%20y+z.json');
    assert.equal(t.key, 'traces/ada/x y+z.json');
    assert.equal(t.path, '/b1b/traces/ada/x%20y%2Bz.json');
    assert.equal(classify('PUT', '/b1b/caf%C3%A9').key, 'café');
  });

  it('accepts buckets with dots; refuses IP-like, upper-case, double-dot and too short ones', async () => {
    assert.equal(classify('GET', '/team.shared.bucket', 'list-type=2').facts.operation, 'ListObjectsV2');
    for (const bucket of ['192.168.1.1', 'UPPER', 'a..b', 'ab', '-lead', 'x'.repeat(64)]) assert.equal(await code(() => classify('GET', `/${bucket}`)), 'bad_request', bucket);
  });

  it('refuses unknown query parameters, a parameter twice, and operations it does not know', async () => {
    assert.equal(await code(() => classify('GET', '/b1b/k', 'acl')), 'bad_request');
    assert.equal(await code(() => classify('GET', '/b1b', 'prefix=a&prefix=b')), 'bad_request');
    assert.equal(await code(() => classify('PATCH', '/b1b/k')), 'bad_request');
    assert.equal(await code(() => classify('PUT', '/b1b/k', 'uploadId=1&partNumber=10001')), 'bad_request');
  });

  it('names copy operations apart from writes (a copy cannot be masked)', () => {
    assert.equal(classify('PUT', '/b1b/k', '', { 'x-amz-copy-source': '/b1b/other' }).facts.operation, 'CopyObject');
    assert.equal(classify('PUT', '/b1b/k', 'partNumber=1&uploadId=u', { 'x-amz-copy-source': '/b1b/other' }).facts.operation, 'UploadPartCopy');
  });

  it('under a profile, only UTF-8 text types without a content coding can be masked', () => {
    assert.equal(textBodyProblem('application/json', ''), null);
    assert.equal(textBodyProblem('text/csv; charset=utf-8', 'aws-chunked'), null);
    assert.notEqual(textBodyProblem('text/plain; charset=utf-16', ''), null);
    assert.notEqual(textBodyProblem('text/plain', 'gzip'), null);
    assert.notEqual(textBodyProblem('text/plain', 'aws-chunked, br'), null);
    assert.notEqual(textBodyProblem('image/png', ''), null);
    assert.notEqual(textBodyProblem('', ''), null);
  });

  it('a completion request gets the gateway\'s ETag and checksum for a part it sent again', () => {
    const upload = { replaced: new Map([[2, { etag: '"new"', checksum: { name: 'ChecksumCRC32', value: 'AAAA' } }]]), checksums: new Map([[1, { name: 'ChecksumCRC32', value: 'BBBB' }]]) };
    const xml = '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"one"</ETag><ChecksumCRC32>client1</ChecksumCRC32></Part><Part><ETag>"two"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>';
    const out = rewriteCompletion(xml, upload as never);
    assert.ok(!out.includes('client1') && out.includes('BBBB') && out.includes('"new"') && !out.includes('"two"'));
  });
});
