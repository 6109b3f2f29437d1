/**
 * A loopback Bedrock Runtime: it checks each request's Signature V4 the way AWS does (recomputed
 * with the signer from the request as received and the one secret it knows; a mismatch is a 403
 * InvalidSignatureException, as AWS answers), records what it got, and answers with the steps the
 * test scripts (JSON bodies and event-stream frames in Bedrock's real wire format). A step that
 * is a promise is waited for, so a test drives a stream by events, never by time.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { listenLoopback, writeReply, type Reply } from '../../support/fake-upstream.ts';

export interface AwsKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
}

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The signature matched one recomputed with the key. */
  readonly signatureValid: boolean;
}

export type { Reply, Step } from '../../support/fake-upstream.ts';

export interface BedrockUpstream {
  readonly url: string;
  readonly received: Received[];
  respond: (request: Received) => Reply;
  close(): Promise<void>;
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** Whether the request carries a valid signature by `key` over exactly these bytes. */
export async function verifySignature(key: AwsKey, method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<boolean> {
  const auth = headers.authorization;
  const m = typeof auth === 'string' ? AUTH.exec(auth) : null;
  if (m === null || m[1] !== key.accessKeyId || m[3] !== key.region || m[4] !== 'bedrock') return false;
  const date = String(headers['x-amz-date'] ?? '');
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (at === null || !date.startsWith(m[2]!)) return false;
  const signed = m[5]!.split(';');
  const pick: Record<string, string> = {};
  // The payload hash, the date and the token are added back by the signer itself, from the body and the date.
  for (const name of signed) if (name !== 'x-amz-content-sha256' && name !== 'x-amz-date') pick[name] = String(headers[name] ?? '');
  const [path] = url.split('?');
  const host = String(headers.host ?? '');
  const signer = new SignatureV4({ service: 'bedrock', region: key.region, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey }, sha256: Sha256 });
  const again = await signer.sign(
    { method, protocol: 'http:', hostname: host.split(':')[0]!, path: path!, query: {}, headers: pick, body },
    { signingDate: new Date(Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!)) },
  );
  // The signer's own payload hash (of the body received) must be the one the request claims and signed.
  if (signed.includes('x-amz-content-sha256') && again.headers['x-amz-content-sha256'] !== headers['x-amz-content-sha256']) return false;
  return again.headers.authorization === auth;
}

export const bedrockError = (status: number, type: string, message: string): Reply => ({
  status,
  headers: { 'content-type': 'application/json', 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': 'req-1' },
  steps: [JSON.stringify({ message })],
});

export const jsonReply = (value: unknown, headers: Record<string, string> = {}): Reply => ({ headers: { 'content-type': 'application/json', ...headers }, steps: [JSON.stringify(value)] });

export const STREAM_HEADERS = { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'req-2' };

export async function startBedrockUpstream(key: AwsKey): Promise<BedrockUpstream> {
  const received: Received[] = [];
  const self: BedrockUpstream = {
    url: '',
    received,
    respond: () => bedrockError(500, 'InternalServerException', 'not scripted'),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const signatureValid = await verifySignature(key, req.method ?? 'GET', req.url ?? '/', req.headers, body);
        const request: Received = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body, signatureValid };
        received.push(request);
        const reply = signatureValid
          ? self.respond(request)
          : bedrockError(403, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
        await writeReply(res, reply);
      })().catch(() => res.destroy());
    });
  });
  const listening = await listenLoopback(server);
  (self as { url: string }).url = listening.url;
  self.close = listening.close;
  return self;
}
