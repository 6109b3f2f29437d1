import { BadRequest } from '../../errors.ts';

/** The four Bedrock Runtime operations the gateway speaks. */
export type BedrockOperation = 'invoke' | 'invoke-with-response-stream' | 'converse' | 'converse-stream';

export interface BedrockRoute {
  readonly operation: BedrockOperation;
  /** The model id as the client named it (decoded): `anthropic.claude-3-5-haiku-20241022-v1:0`, an inference profile id. */
  readonly modelId: string;
  /** Whether the answer is an event stream. */
  readonly stream: boolean;
  /** Converse / ConverseStream (Bedrock's own message shape) rather than the model's native body. */
  readonly converse: boolean;
}

const OPERATIONS: ReadonlySet<string> = new Set<BedrockOperation>(['invoke', 'invoke-with-response-stream', 'converse', 'converse-stream']);

/**
 * Model ids, inference profile ids and foundation-model names: letters, digits and `.`, `_`, `:`,
 * `-`. An ARN (which holds `/`, sent as `%2F`) is refused by the path rules before this: name the
 * model or inference profile by id.
 */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/**
 * Reads `/model/{modelId}/{operation}` from the normalised path below the connection
 * (adapters/http/path.ts has already refused dot segments, encoded slashes and the like). Anything
 * else (another operation, a query string, a model id with other characters) is refused: the
 * gateway never forwards a Bedrock request whose model it could not name to policy.
 */
export function parseBedrockRoute(method: string, target: string): BedrockRoute {
  if (target.includes('?')) throw new BadRequest('Bedrock operations take no query string; it was not forwarded');
  const parts = target.split('/');
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== 'model' || !OPERATIONS.has(parts[3]!)) {
    throw new BadRequest('a bedrock connection serves POST /model/{modelId}/invoke, /invoke-with-response-stream, /converse and /converse-stream only', {
      details: { path: target.slice(0, 200) },
    });
  }
  if (method.toUpperCase() !== 'POST') throw new BadRequest(`Bedrock's ${parts[3]} takes POST, not ${method}`);
  let modelId: string;
  try {
    modelId = decodeURIComponent(parts[2]!);
  } catch {
    throw new BadRequest('the model id in the path is not valid percent-encoding');
  }
  if (!MODEL_ID.test(modelId)) {
    throw new BadRequest('the model id holds characters a Bedrock model or inference profile id does not (name it by id, not by ARN)', { details: { field: 'modelId' } });
  }
  const operation = parts[3] as BedrockOperation;
  return { operation, modelId, stream: operation.endsWith('stream'), converse: operation.startsWith('converse') };
}
