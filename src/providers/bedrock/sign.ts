/**
 * The gateway signs each Bedrock request itself, with the AWS credential it holds, after masking:
 * the payload hash covers the bytes that are sent. The agent's own Authorization (a Gatehouse
 * token, or a SigV4 signature of its own) and every `x-amz-*` header it sent are never forwarded,
 * so nothing it wrote can change what the signature covers (a client `x-amz-content-sha256` would
 * otherwise be taken as the payload hash).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** A connection's `credential: { type: aws, … }` (config/schema.ts). */
export interface AwsCredential {
  readonly type: 'aws';
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly region: string;
}

/** The service name Bedrock Runtime signs under (its endpoint is bedrock-runtime, its signing name bedrock). */
export const SIGNING_SERVICE = 'bedrock';

/**
 * Request headers passed from the client to Bedrock: what the operations read (content type,
 * accept, Bedrock's own `x-amzn-bedrock-*` options such as guardrails, trace, performance
 * config) and nothing else. Each is signed.
 */
export function forwardedHeaders(incoming: Readonly<Record<string, string | string[] | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (name === 'content-type' || name === 'accept' || name.startsWith('x-amzn-bedrock-')) {
      // A header sent twice is refused before this (the draft); joined as HTTP folds it, to be sure.
      out[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }
  return out;
}

const signers = new WeakMap<AwsCredential, SignatureV4>();

function signerFor(credential: AwsCredential): SignatureV4 {
  let signer = signers.get(credential);
  if (signer === undefined) {
    signer = new SignatureV4({
      service: SIGNING_SERVICE,
      region: credential.region,
      credentials: {
        accessKeyId: credential.accessKeyId,
        secretAccessKey: credential.secretAccessKey,
        ...(credential.sessionToken ? { sessionToken: credential.sessionToken } : {}),
      },
      sha256: Sha256,
    });
    signers.set(credential, signer);
  }
  return signer;
}

export interface UpstreamRequest {
  readonly method: string;
  /** The full upstream URL: origin and the path exactly as it will be sent (no query: Bedrock's operations take none). */
  readonly url: URL;
  /** Headers to send, lower-case names, without host or any authorization. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/**
 * The headers to send: the given ones plus host, x-amz-date, x-amz-content-sha256, the session
 * token when there is one, and Authorization (SigV4 over all of them and the body).
 */
export async function signRequest(credential: AwsCredential, request: UpstreamRequest, now: Date = new Date()): Promise<Record<string, string>> {
  const { url } = request;
  const signed = await signerFor(credential).sign(
    {
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: {},
      headers: { ...request.headers, host: url.host },
      body: request.body,
    },
    { signingDate: now },
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) out[name.toLowerCase()] = String(value);
  return out;
}
