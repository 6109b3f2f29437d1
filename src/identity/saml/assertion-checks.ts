/**
 * What node-saml leaves to its caller, checked on the assertion it verified: the issuer, a bearer
 * confirmation addressed to our ACS URL that answers the request we sent (InResponseTo inside the
 * signature, so a signed IdP-initiated assertion cannot be wrapped in a response naming someone
 * else's request), an age bound, and the attributes we map. Works on node-saml's parse of the
 * signed bytes only (Profile.getAssertion), never on the document as posted.
 */
import type { Profile } from '@node-saml/node-saml';
import { Refusal } from './refusal.ts';

export interface AssertionExpectations {
  readonly idpEntityId: string;
  readonly acsUrl: string;
  readonly skewMs: number;
  /** The longest time after IssueInstant an assertion is accepted, whatever its NotOnOrAfter says. */
  readonly maxAgeMs: number;
  readonly usernameAttribute: string | undefined;
  readonly groupsAttribute: string;
}

export interface AssertionFacts {
  readonly assertionId: string;
  /** The request the assertion answers (checked by node-saml against the ids we sent). */
  readonly inResponseTo: string;
  /** Until when the assertion could still be accepted: its id is remembered that long. */
  readonly acceptableUntil: number;
  readonly username: string;
  readonly groups: readonly string[];
}

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const MAX_ID_LENGTH = 256;
const MAX_NAME_LENGTH = 200;
const MAX_GROUPS = 1_000;
const MAX_GROUP_LENGTH = 256;

type Node = Record<string, unknown>;

function children(node: unknown, name: string): Node[] {
  const value = (node as Node | undefined)?.[name];
  return Array.isArray(value) ? (value.filter((v) => v !== null && typeof v === 'object') as Node[]) : [];
}

function attr(node: Node | undefined, name: string): string | undefined {
  const value = (node?.$ as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

function text(node: Node | undefined): string | undefined {
  return typeof node?._ === 'string' ? node._ : undefined;
}

function instant(value: string | undefined, what: string): number {
  // xs:dateTime with a zone; Date.parse alone would read "2025-01-01" or "tomorrow"-like inputs too loosely.
  const ms = value !== undefined && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new Refusal('saml_invalid', `${what}_malformed`);
  return ms;
}

export function checkAssertion(profile: Profile, expect: AssertionExpectations, now: number): AssertionFacts {
  const assertion = (profile.getAssertion?.() as Node | undefined)?.Assertion as Node | undefined;
  if (!assertion) throw new Refusal('saml_invalid', 'no_assertion');
  if (attr(assertion, 'Version') !== '2.0') throw new Refusal('saml_invalid', 'version');
  const assertionId = attr(assertion, 'ID');
  if (!assertionId || assertionId.length > MAX_ID_LENGTH) throw new Refusal('saml_invalid', 'assertion_id');
  if (text(children(assertion, 'Issuer')[0]) !== expect.idpEntityId) throw new Refusal('saml_invalid', 'issuer');

  const issuedAt = instant(attr(assertion, 'IssueInstant'), 'issue_instant');
  if (issuedAt > now + expect.skewMs) throw new Refusal('saml_expired', 'issued_in_future');
  const acceptableUntil = issuedAt + expect.maxAgeMs + expect.skewMs;
  if (now >= acceptableUntil) throw new Refusal('saml_expired', 'too_old');

  const inResponseTo = profile.inResponseTo;
  if (typeof inResponseTo !== 'string' || !inResponseTo) throw new Refusal('saml_unsolicited', 'no_in_response_to');
  checkBearerConfirmation(children(children(assertion, 'Subject')[0], 'SubjectConfirmation'), expect, inResponseTo, now);

  return { assertionId, inResponseTo, acceptableUntil, username: username(profile, expect), groups: groups(profile, expect) };
}

/**
 * SAML's Web Browser SSO profile: at least one bearer confirmation whose data names our ACS URL as
 * Recipient, has a NotOnOrAfter still ahead, and answers the request. The most specific failure is
 * reported, so a wrong recipient is not mistaken for a clock problem.
 */
function checkBearerConfirmation(confirmations: Node[], expect: AssertionExpectations, inResponseTo: string, now: number): void {
  let failure = new Refusal('saml_invalid', 'no_bearer_confirmation');
  for (const confirmation of confirmations) {
    if (attr(confirmation, 'Method') !== BEARER) continue;
    const data = children(confirmation, 'SubjectConfirmationData')[0];
    if (attr(data, 'Recipient') !== expect.acsUrl) {
      failure = new Refusal('saml_invalid', 'recipient');
      continue;
    }
    const notOnOrAfter = instant(attr(data, 'NotOnOrAfter'), 'confirmation_not_on_or_after');
    const notBefore = attr(data, 'NotBefore');
    if (now - expect.skewMs >= notOnOrAfter || (notBefore !== undefined && instant(notBefore, 'confirmation_not_before') > now + expect.skewMs)) {
      failure = new Refusal('saml_expired', 'confirmation_time');
      continue;
    }
    if (attr(data, 'InResponseTo') !== inResponseTo) {
      failure = new Refusal('saml_unsolicited', 'confirmation_in_response_to');
      continue;
    }
    return;
  }
  throw failure;
}

function cleanName(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const name = value.trim();
  return name.length > 0 && name.length <= max && !/[\u0000-\u001f\u007f]/.test(name) ? name : null;
}

function attributes(profile: Profile): Record<string, unknown> {
  const value = profile.attributes;
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function username(profile: Profile, expect: AssertionExpectations): string {
  const raw = expect.usernameAttribute === undefined ? profile.nameID : attributes(profile)[expect.usernameAttribute];
  const name = cleanName(raw, MAX_NAME_LENGTH);
  if (name === null) throw new Refusal('saml_invalid', expect.usernameAttribute === undefined ? 'name_id' : 'username_attribute');
  return name;
}

/**
 * Groups from the configured attribute. Okta leaves the attribute out when a user is in none of the
 * groups its filter passes, so a missing attribute means no groups (and a login drops stale ones).
 */
function groups(profile: Profile, expect: AssertionExpectations): string[] {
  const raw = attributes(profile)[expect.groupsAttribute];
  if (raw === undefined) return [];
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length > MAX_GROUPS) throw new Refusal('saml_invalid', 'too_many_groups');
  const names = values.map((value) => cleanName(value, MAX_GROUP_LENGTH));
  if (names.some((name) => name === null)) throw new Refusal('saml_invalid', 'groups_attribute');
  return [...new Set(names as string[])];
}
