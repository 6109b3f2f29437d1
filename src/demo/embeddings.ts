/**
 * `POST /v1/embeddings`: a unit vector per input, derived from a hash of the text, so equal
 * inputs embed equally across runs and machines.
 */
import { createHash } from 'node:crypto';
import type { CreateEmbeddingResponse, Embedding } from 'openai/resources/embeddings';
import { estimateTokens, inputTexts } from './echo-text.ts';
import type { EmbeddingBody } from './request-schemas.ts';

const DEFAULT_DIMENSIONS = 8;
/** One SHA-256 digest yields eight 32-bit words, one per dimension. */
const WORDS_PER_DIGEST = 8;

/**
 * With `encoding_format: 'base64'` (what the openai SDK asks for by default) each vector is the
 * base64 of its little-endian float32 bytes, as the real service sends it.
 */
type WireEmbedding = Omit<Embedding, 'embedding'> & { embedding: number[] | string };
type WireEmbeddingResponse = Omit<CreateEmbeddingResponse, 'data'> & { data: WireEmbedding[] };

export function embeddings(body: EmbeddingBody): WireEmbeddingResponse {
  const texts = inputTexts(body.input);
  const dimensions = body.dimensions ?? DEFAULT_DIMENSIONS;
  const base64 = body.encoding_format === 'base64';
  const promptTokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);
  return {
    object: 'list',
    data: texts.map((text, index) => {
      const vector = embed(text, dimensions);
      return { object: 'embedding', index, embedding: base64 ? toBase64(vector) : Array.from(vector) };
    }),
    model: body.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** A deterministic unit vector for `text`, rounded to float32 so both encodings carry the same numbers. */
function embed(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  for (let block = 0; block * WORDS_PER_DIGEST < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let word = 0; word < WORDS_PER_DIGEST && block * WORDS_PER_DIGEST + word < dimensions; word++) {
      vector[block * WORDS_PER_DIGEST + word] = digest.readUInt32LE(word * 4) / 0x8000_0000 - 1;
    }
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) / norm;
  return vector;
}

function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, i) => bytes.writeFloatLE(value, i * 4));
  return bytes.toString('base64');
}
