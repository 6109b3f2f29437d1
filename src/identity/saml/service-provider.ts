/**
 * Gatehouse as a SAML 2.0 service provider: metadata, the AuthnRequest (HTTP-Redirect binding) and
 * the assertion consumer (HTTP-POST binding). node-saml verifies the XML signatures, audience and
 * validity times; assertion-checks.ts adds what it leaves to its caller; every accepted assertion
 * id (and the request it answers) is used up in the store, so a replay fails on any replica.
 *
 * Only SP-initiated sign-in is accepted: a response must answer a request this gateway sent,
 * inside the signed assertion. IdP-initiated responses (an Okta or Entra dashboard tile) carry no
 * such answer and are refused with `saml_unsolicited`; the tile can point at /api/v1/saml/login.
 */
import { hkdfSync } from 'node:crypto';
import { generateServiceProviderMetadata, SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Logger } from 'pino';
import type { SamlConfig } from '../../config/schema.ts';
import { AuthError, GatewayError } from '../../errors.ts';
import type { Store } from '../../store/types.ts';
import type { Credentials } from '../credentials.ts';
import { checkAssertion, type AssertionExpectations } from './assertion-checks.ts';
import { RequestIds, REQUEST_TTL_MS, UsedSamlIds } from './message-ids.ts';
import { readPostedResponse } from './posted-response.ts';
import { Refusal, refusalOf } from './refusal.ts';
import { safeRelayPath } from './relay-state.ts';
import { userForSignIn } from './sign-in-user.ts';

export const SAML_PATHS = { metadata: '/api/v1/saml/metadata', login: '/api/v1/saml/login', acs: '/api/v1/saml/acs' } as const;
/** A browser posts its assertion seconds after the provider issues it; older ones are refused whatever they claim. */
const MAX_ASSERTION_AGE_MS = 3_600_000;

export interface SamlDeps {
  readonly store: Store;
  readonly credentials: Credentials;
  readonly logger: Logger;
  /** 32 bytes derived from the master key: request ids are MACed with it, so every replica knows them. */
  readonly requestIdKey: Buffer;
  readonly now?: () => number;
}

export interface SamlSession {
  /** The gta_ token, for the session cookie only. */
  readonly secret: string;
  readonly maxAgeSeconds: number;
  /** Send the Secure cookie attribute (the gateway is reached over https). */
  readonly secure: boolean;
  readonly redirectTo: string;
}

export class SamlServiceProvider {
  readonly acsUrl: string;
  private readonly saml: SAML;
  private readonly used: UsedSamlIds;
  private readonly expect: AssertionExpectations;
  private readonly now: () => number;

  constructor(
    private readonly config: SamlConfig,
    private readonly deps: SamlDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.acsUrl = config.baseUrl + SAML_PATHS.acs;
    const requestIds = new RequestIds(deps.requestIdKey, this.now);
    this.used = new UsedSamlIds(deps.store, this.now, (err) => deps.logger.warn({ err }, 'pruning used SAML ids failed'));
    this.saml = new SAML({
      issuer: config.entityId,
      audience: config.entityId,
      callbackUrl: this.acsUrl,
      entryPoint: config.idp.ssoUrl,
      idpIssuer: config.idp.entityId,
      idpCert: [...config.idp.certificate],
      wantAssertionsSigned: true,
      // Okta and Entra sign the assertion by default and the response only when asked; the assertion is what counts.
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: config.clockSkew,
      maxAssertionAgeMs: MAX_ASSERTION_AGE_MS,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: REQUEST_TTL_MS,
      cacheProvider: requestIds,
      generateUniqueId: requestIds.generate,
      // Any NameID format the provider is set up for; asking for one it does not send fails the sign-in there.
      identifierFormat: null,
      // Requesting PasswordProtectedTransport "exactly" makes Entra refuse users who signed in with MFA or a passkey.
      disableRequestedAuthnContext: true,
    });
    this.expect = {
      idpEntityId: config.idp.entityId,
      acsUrl: this.acsUrl,
      skewMs: config.clockSkew,
      maxAgeMs: MAX_ASSERTION_AGE_MS,
      usernameAttribute: config.usernameAttribute,
      groupsAttribute: config.groupsAttribute,
    };
  }

  /** Unsigned (the SP has no key: it signs no requests and takes no encrypted assertions). */
  metadata(): string {
    return generateServiceProviderMetadata({ issuer: this.config.entityId, callbackUrl: this.acsUrl, identifierFormat: null, wantAssertionsSigned: true });
  }

  /** The identity provider's sign-in URL carrying a fresh AuthnRequest; `relay` was checked by the caller. */
  loginUrl(relay: string): Promise<string> {
    return this.saml.getAuthorizeUrlAsync(relay, undefined, {});
  }

  /**
   * Verifies a posted response and signs its user in with a fresh gta_ token. Every refusal is a
   * SamlError (or auth_revoked for a disabled user), logged with its reason but nothing the
   * assertion says and no token.
   */
  async consume(form: { SAMLResponse?: unknown; RelayState?: unknown }): Promise<SamlSession> {
    try {
      const posted = await readPostedResponse(form.SAMLResponse, this.acsUrl);
      let profile;
      try {
        ({ profile } = await this.saml.validatePostResponseAsync({ SAMLResponse: posted.base64 }));
      } catch (err) {
        throw refusalOf(err);
      }
      if (!profile) throw new Refusal('saml_invalid', 'no_assertion');
      const facts = checkAssertion(profile, this.expect, this.now());
      if (!(await this.used.useOnce('assertion', facts.assertionId, facts.acceptableUntil))) throw new Refusal('saml_replayed', 'assertion_reused');
      // A provider answers a request once; a second assertion naming it is refused too. Kept at
      // least as long as the request id itself stays valid (15 minutes from when it was sent).
      const requestExpiry = Math.max(facts.acceptableUntil, this.now() + REQUEST_TTL_MS);
      if (!(await this.used.useOnce('request', facts.inResponseTo, requestExpiry))) throw new Refusal('saml_replayed', 'request_answered');

      const account = { idpEntityId: this.config.idp.entityId, nameId: profile.nameID, nameIdFormat: profile.nameIDFormat, username: facts.username, groups: facts.groups };
      const principal = await userForSignIn(this.deps.store, account, this.now());
      const { secret, token } = await this.deps.credentials.issue({
        principal,
        kind: 'admin',
        name: 'SAML sign-in',
        connections: null,
        ttlMs: this.config.sessionTtl,
      });
      const relay = form.RelayState === undefined || form.RelayState === '' ? '/' : safeRelayPath(form.RelayState);
      if (relay === null) this.deps.logger.warn({ principalId: principal.id }, 'SAML RelayState is not a path on this gateway; sending the browser to /');
      this.deps.logger.info({ principalId: principal.id, principal: principal.name, tokenId: token.id, groups: principal.groups.length }, 'SAML sign-in');
      return {
        secret,
        maxAgeSeconds: Math.floor(this.config.sessionTtl / 1000),
        secure: this.config.baseUrl.startsWith('https:'),
        redirectTo: relay ?? '/',
      };
    } catch (err) {
      if (err instanceof Refusal) {
        this.deps.logger.warn({ code: err.code, reason: err.reason }, 'SAML sign-in refused');
        throw err.toGatewayError();
      }
      if (err instanceof AuthError) this.deps.logger.warn({ code: err.code, reason: err.code === 'auth_revoked' ? 'user_disabled' : 'identity_conflict' }, 'SAML sign-in refused');
      else if (err instanceof GatewayError) this.deps.logger.warn({ code: err.code }, 'SAML sign-in failed');
      // Past the Refusal boundary nothing holds assertion text: node-saml's own errors became Refusals.
      else this.deps.logger.error({ err }, 'SAML sign-in failed');
      throw err;
    }
  }
}

/** The service provider when identity.saml is configured; its request-id key comes from the master key. */
export function createSamlServiceProvider(
  config: SamlConfig | undefined,
  deps: Omit<SamlDeps, 'requestIdKey'> & { readonly masterKey: Buffer },
): SamlServiceProvider | undefined {
  if (!config) return undefined;
  const requestIdKey = Buffer.from(hkdfSync('sha256', deps.masterKey, Buffer.alloc(0), 'gatehouse saml request ids', 32));
  return new SamlServiceProvider(config, { ...deps, requestIdKey });
}
