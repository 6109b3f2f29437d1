/**
 * The demo model's "intelligence": it echoes what it was sent, so a test can tell exactly what
 * reached the upstream (a masked prompt) and can make the model say anything (a secret to be
 * masked on the way back).
 */
import { LONG_MODEL } from './models.ts';

/** Code points per streamed piece: small, so values a masker must catch straddle chunks. */
const PIECE_LENGTH = 4;
/** How many pieces the `demo-long` model streams. */
export const LONG_PIECES = 200;

const PIECE = new RegExp(`[\\s\\S]{1,${PIECE_LENGTH}}`, 'gu');

type Content = string | null | undefined | readonly { type: string; text?: string | undefined }[];

/** The text of a message's content, whether a plain string or a list of typed parts. */
export function textOf(content: Content): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  let text = '';
  for (const part of content) if (typeof part.text === 'string') text += part.text;
  return text;
}

/**
 * The texts in a prompt or embedding input: text, texts, token ids (one text) or lists of token
 * ids; token ids stay numbers written out, since the demo has no tokenizer.
 */
export function inputTexts(input: string | readonly (string | number | readonly number[])[]): string[] {
  if (typeof input === 'string') return [input];
  if (input.every((item) => typeof item === 'number')) return [input.join(' ')];
  return input.map((item) => (typeof item === 'string' ? item : Array.isArray(item) ? item.join(' ') : String(item)));
}

export function echo(text: string): string {
  return `Echo: ${text}`;
}

/** Splits text into the small pieces a stream sends; never splits a surrogate pair. */
export function splitPieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

/**
 * The pieces of the reply for `model`: the echo, padded for `demo-long` with numbered words until
 * there are LONG_PIECES of them. A non-streamed reply is the same pieces joined.
 */
export function replyPieces(model: string, reply: string): string[] {
  const pieces = splitPieces(reply);
  if (model === LONG_MODEL) {
    for (let n = 1; pieces.length < LONG_PIECES; n++) pieces.push(` #${n}`);
  }
  return pieces;
}

/** A rough token count (four characters a token) so usage figures are plausible and stable. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
