/**
 * Amazon Bedrock Runtime: InvokeModel, InvokeModelWithResponseStream, Converse and ConverseStream
 * at `/model/{modelId}/…`. The agent authenticates with its Gatehouse token as a Bedrock API key
 * (`Authorization: Bearer`, what the AWS SDK sends for `token` / AWS_BEARER_TOKEN_BEDROCK); the
 * gateway holds the AWS key and signs every upstream request itself (sign.ts), over the masked
 * body. A client that signs with SigV4 has no Gatehouse token to show: it is refused, and its
 * signature never travels further.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AuthError, BadRequest, ConfigError, type GatewayError } from '../../errors.ts';
import type { LlmFacts } from '../../interaction.ts';
import { jsonError, tokenFrom } from '../common.ts';
import type { LlmProvider, ProviderRoute, TokenUsage, UsageMeter } from '../types.ts';
import { createUsageMeter } from '../usage.ts';
import { classifyBedrockRequest } from './classify.ts';
import { parseBedrockRoute, type BedrockRoute } from './route.ts';
import { type AwsCredential, forwardedHeaders, signRequest } from './sign.ts';
import { BedrockStreamMasker } from './stream-masker.ts';
import { converseUsage, nativeUsage } from './usage.ts';

/** What route() returns: the provider-neutral route, with the Bedrock operation beside it. */
interface BedrockProviderRoute extends ProviderRoute {
  readonly bedrock: BedrockRoute;
}

function bedrockRoute(route: ProviderRoute): BedrockRoute {
  const own = (route as Partial<BedrockProviderRoute>).bedrock;
  if (own === undefined) throw new BadRequest('not a Bedrock route');
  return own;
}

/** The exception names Bedrock's SDKs map to their error classes (x-amzn-errortype). */
function exceptionName(error: GatewayError): string {
  const status = error.status;
  if (error.code === 'upstream_timeout') return 'ModelTimeoutException';
  if (status === 401 || status === 403) return 'AccessDeniedException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 429) return 'ThrottlingException';
  if (status === 503) return 'ServiceUnavailableException';
  if (status >= 400 && status < 500) return 'ValidationException';
  return 'InternalServerException';
}

/** A stream's usage, read by the same decoder the masker uses, on the raw bytes. */
class StreamUsage implements UsageMeter {
  private readonly reader = new BedrockStreamMasker({ profile: null, transcriptBytes: 0 });

  push(chunk: Buffer): void {
    this.reader.push(chunk);
  }

  end(): TokenUsage | null {
    this.reader.end();
    return this.reader.usage;
  }
}

const readBodyUsage = (value: unknown): TokenUsage | null => converseUsage(value) ?? nativeUsage(value);

/** Request headers the gateway does not pass: the client's own signing and SDK bookkeeping. */
function isClientSigning(name: string): boolean {
  return name === 'authorization' || name === 'host' || name.startsWith('x-amz-') || name.startsWith('amz-sdk-');
}

export const bedrockProvider: LlmProvider = {
  type: 'bedrock',

  clientSecret(headers: IncomingHttpHeaders) {
    const auth = headers.authorization;
    if (typeof auth === 'string' && /^AWS4-/i.test(auth.trim())) {
      throw new AuthError(
        'auth_missing',
        'this request is signed with an AWS key; a bedrock connection takes a Gatehouse token as a Bedrock API key instead (token: { token } with authSchemePreference ["httpBearerAuth"], or AWS_BEARER_TOKEN_BEDROCK): the gateway signs for AWS itself',
      );
    }
    return tokenFrom(headers, []);
  },

  upstreamTarget(target) {
    return target;
  },

  route(method, path, query): BedrockProviderRoute {
    if ([...query.keys()].length > 0) throw new BadRequest('Bedrock operations take no query string; it was not forwarded');
    const bedrock = parseBedrockRoute(method, path);
    return {
      kind: 'llm.chat',
      readsPrompt: true,
      pathModel: bedrock.modelId,
      pathStreams: bedrock.stream,
      streamFormat: bedrock.stream ? 'aws-eventstream' : 'none',
      bedrock,
    };
  },

  classify(route, body): LlmFacts {
    const { family: _family, ...facts } = classifyBedrockRequest(bedrockRoute(route), body);
    return facts;
  },

  requestedModel(route) {
    return route.pathModel;
  },

  streams(route) {
    return route.pathStreams;
  },

  usageMeter(route, streaming) {
    return streaming ? new StreamUsage() : createUsageMeter('json', readBodyUsage);
  },

  async applyCredential(headers, credential, ctx) {
    for (const name of Object.keys(headers)) if (isClientSigning(name)) delete headers[name];
    if (credential === undefined) return;
    // Read through the signer's own type: the aws form is shared with s3 connections (config/schema.ts).
    const aws = credential as { readonly type: string } as AwsCredential;
    if (aws.type !== 'aws') throw new ConfigError(`connection "${ctx.connection}" is a bedrock connection: its credential must be { type: aws, accessKeyId, secretAccessKey, region }`);
    // Sent as signed: a header given twice goes as the one value that was signed.
    const signable = forwardedHeaders(headers);
    Object.assign(headers, signable);
    const signed = await signRequest(aws, { method: ctx.method, url: ctx.url, headers: signable, body: ctx.body ?? new Uint8Array(0) });
    Object.assign(headers, signed);
  },

  errorResponse(error: GatewayError) {
    const response = jsonError(error, { message: error.message, gatehouse: { code: error.code, ...error.details } });
    return { ...response, headers: { ...response.headers, 'x-amzn-errortype': `${exceptionName(error)}:http://internal.amazon.com/coral/com.amazon.bedrock/` } };
  },
};
