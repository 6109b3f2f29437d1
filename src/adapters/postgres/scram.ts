/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as PostgreSQL runs it: the
 * client-first message names no user we read (the startup packet did), the server answers with its
 * nonce, the principal's salt and the iteration count, and the client-final proof is checked against
 * each candidate token's StoredKey. The token never crosses the wire; only a matching proof names it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthError, ProtocolError } from '../../errors.ts';
import { hmac, sha256 } from '../../identity/scram-keys.ts';
import type { ScramCandidate, ScramLogin } from '../../identity/scram-logins.ts';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
const NONCE_BYTES = 18;
/** A nonce is printable ASCII without a comma; drivers send 18–24 random bytes in base64. */
const NONCE = /^[\x21-\x2b\x2d-\x7e]{1,512}$/;
const PROOF_BYTES = 32;

interface ClientFirst {
  readonly gs2Header: string;
  readonly bare: string;
  readonly clientNonce: string;
}

export interface ScramSuccess {
  readonly tokenId: string;
  /** The AuthenticationSASLFinal data: the server's signature, so the client knows it spoke to us. */
  readonly serverFinal: string;
}

/** Every malformed message is a protocol violation, as PostgreSQL reports one ("malformed SCRAM message"). */
function malformed(detail: string): ProtocolError {
  return new ProtocolError(`malformed SCRAM message: ${detail}`);
}

export class ScramExchange {
  private first: ClientFirst | null = null;
  private serverFirst = '';
  private nonce = '';
  private finished = false;

  /** `refused` is the error a proof that matches no candidate gets: the same as a wrong cleartext token. */
  constructor(
    private readonly login: ScramLogin,
    private readonly refused: () => AuthError,
  ) {}

  /** The client-first message → the server-first message to send in AuthenticationSASLContinue. */
  start(data: Buffer): string | ProtocolError {
    if (this.first !== null) return malformed('a second client-first message');
    const parsed = parseClientFirst(data);
    if (parsed instanceof ProtocolError) return parsed;
    this.first = parsed;
    this.nonce = parsed.clientNonce + randomBytes(NONCE_BYTES).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.login.salt.toString('base64')},i=${this.login.iterations}`;
    return this.serverFirst;
  }

  /** The client-final message → the token it proves, or why not. One try per exchange. */
  finish(data: Buffer): ScramSuccess | ProtocolError | AuthError {
    if (this.first === null || this.finished) return malformed('a client-final message out of turn');
    this.finished = true;
    const text = asText(data);
    if (text === null) return malformed('not UTF-8');
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) return malformed('no proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = withoutProof.split(',');
    const binding = attrs[0]?.startsWith('c=') ? attrs[0].slice(2) : null;
    if (binding === null) return malformed('no channel binding attribute');
    // For 'n' and 'y' the binding data is the gs2 header itself; anything else means the flag lied.
    if (!isBase64(binding) || Buffer.from(binding, 'base64').toString('latin1') !== this.first.gs2Header) {
      return malformed('channel binding data does not match the client-first message');
    }
    const nonce = attrs[1]?.startsWith('r=') ? attrs[1].slice(2) : null;
    if (nonce === null) return malformed('no nonce');
    if (nonce !== this.nonce) return malformed('the nonce does not match');
    for (const extra of attrs.slice(2)) if (!/^[a-zA-Z]=/.test(extra)) return malformed('an attribute without a name');
    const proofText = text.slice(proofAt + 3);
    if (!isBase64(proofText)) return malformed('the proof is not base64');
    const proof = Buffer.from(proofText, 'base64');
    if (proof.length !== PROOF_BYTES) return malformed('the proof has the wrong length');
    const authMessage = `${this.first.bare},${this.serverFirst},${withoutProof}`;
    const match = matchProof(this.login.candidates, authMessage, proof);
    if (match === null) return this.refused();
    return { tokenId: match.tokenId, serverFinal: `v=${hmac(match.serverKey, authMessage).toString('base64')}` };
  }
}

/** ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the token is the one whose H(ClientKey) is its StoredKey. */
function matchProof(candidates: readonly ScramCandidate[], authMessage: string, proof: Buffer): ScramCandidate | null {
  let found: ScramCandidate | null = null;
  // Every candidate is tried, so how long a login takes does not tell which token matched.
  for (const c of candidates) {
    const signature = hmac(c.storedKey, authMessage);
    const clientKey = Buffer.alloc(PROOF_BYTES);
    for (let i = 0; i < PROOF_BYTES; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    const stored = sha256(clientKey);
    if (stored.length === c.storedKey.length && timingSafeEqual(stored, c.storedKey) && found === null) found = c;
  }
  return found;
}

function parseClientFirst(data: Buffer): ClientFirst | ProtocolError {
  const text = asText(data);
  if (text === null) return malformed('not UTF-8');
  const flagEnd = text.indexOf(',');
  if (flagEnd < 0) return malformed('no gs2 header');
  const flag = text.slice(0, flagEnd);
  if (flag.startsWith('p=')) {
    return malformed('the client selected SCRAM-SHA-256 without channel binding, but the message asks for channel binding');
  }
  // 'y': the client could bind but believes the server cannot. True here: no -PLUS is offered.
  if (flag !== 'n' && flag !== 'y') return malformed('unexpected channel-binding flag');
  const authzEnd = text.indexOf(',', flagEnd + 1);
  if (authzEnd < 0) return malformed('no gs2 header');
  if (authzEnd !== flagEnd + 1) return malformed('an authorization identity is not supported');
  const gs2Header = text.slice(0, authzEnd + 1);
  const bare = text.slice(authzEnd + 1);
  const attrs = bare.split(',');
  if (attrs[0]?.startsWith('m=')) return malformed('mandatory extensions are not supported');
  // The user name attribute is read and ignored: the startup packet's user names the principal.
  if (!attrs[0]?.startsWith('n=')) return malformed('no user name attribute');
  const nonceAttr = attrs[1];
  if (nonceAttr === undefined || !nonceAttr.startsWith('r=')) return malformed('no nonce');
  const clientNonce = nonceAttr.slice(2);
  if (!NONCE.test(clientNonce)) return malformed('the client nonce has characters outside printable ASCII or is empty');
  for (const extra of attrs.slice(2)) if (!/^[a-zA-Z]=/.test(extra)) return malformed('an attribute without a name');
  return { gs2Header, bare, clientNonce };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function asText(data: Buffer): string | null {
  try {
    const text = decoder.decode(data);
    return text.includes('\0') ? null : text;
  } catch {
    return null;
  }
}

function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0;
}
