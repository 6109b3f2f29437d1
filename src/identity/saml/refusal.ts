import { SamlStatusError } from '@node-saml/node-saml';
import { SamlError, type SamlCode } from '../../errors.ts';

/** What the browser is told: the code's meaning and what to do, never which check failed. */
const MESSAGES: Record<SamlCode, string> = {
  saml_invalid: 'the SAML sign-in could not be verified; start again at /api/v1/saml/login, and ask an admin if it keeps failing',
  saml_expired: 'the SAML sign-in is outside its validity window; sign in again (if it recurs, the clocks disagree)',
  saml_replayed: 'this SAML sign-in was already used; sign in again at /api/v1/saml/login',
  saml_unsolicited: 'this SAML sign-in answers no request from this gateway; start at /api/v1/saml/login',
};

/** A refused sign-in: `reason` is for the operator's log, `code` for the browser. */
export class Refusal extends Error {
  constructor(
    readonly code: SamlCode,
    readonly reason: string,
  ) {
    super(`SAML sign-in refused (${reason})`);
  }

  toGatewayError(): SamlError {
    return new SamlError(this.code, MESSAGES[this.code]);
  }
}

/**
 * node-saml fails with plain Errors whose messages may quote the assertion (its audience, the
 * provider's status message), so only a reason read from the message is kept. Anything not
 * recognised is still a refusal: the fallback is `saml_invalid`, never acceptance.
 */
const NODE_SAML_FAILURES: readonly (readonly [RegExp, SamlCode, string])[] = [
  [/InResponseTo is missing/, 'saml_unsolicited', 'no_in_response_to'],
  [/InResponseTo does not match/, 'saml_unsolicited', 'in_response_to_mismatch'],
  [/InResponseTo is not valid/, 'saml_unsolicited', 'unknown_request'],
  [/not yet valid/, 'saml_expired', 'not_yet_valid'],
  [/expired/, 'saml_expired', 'expired'],
  [/No valid subject confirmation/, 'saml_expired', 'confirmation_time'],
  [/audience/i, 'saml_invalid', 'audience'],
  [/multiple assertions/, 'saml_invalid', 'multiple_assertions'],
  [/ID cannot refer|Referenced node|Too many signatures|transforms/, 'saml_invalid', 'signature_structure'],
  [/signature/i, 'saml_invalid', 'signature'],
  [/Error parsing/, 'saml_invalid', 'malformed_time'],
  [/decryption key|EncryptedAssertion/, 'saml_invalid', 'encrypted_assertion'],
  [/multiple conditions/, 'saml_invalid', 'conditions'],
  [/Missing SAML assertion|Unknown SAML response/, 'saml_invalid', 'no_assertion'],
];

export function refusalOf(err: unknown): Refusal {
  if (err instanceof Refusal) return err;
  if (err instanceof SamlStatusError) return new Refusal('saml_invalid', 'idp_status');
  const message = err instanceof Error ? err.message : '';
  for (const [pattern, code, reason] of NODE_SAML_FAILURES) if (pattern.test(message)) return new Refusal(code, reason);
  return new Refusal('saml_invalid', 'unverified');
}
