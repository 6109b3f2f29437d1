import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';

/**
 * identity.oidc (people sign in with an ID token from their company's OpenID Connect provider) and
 * identity.workload (CI jobs and workloads trade their own short-lived tokens for gth_ ones).
 * Validated here; identity/oidc/ and identity/workload-*.ts act on them.
 */

const duration = durationSchema;

/**
 * Only asymmetric algorithms: a verifier that accepted HS256 would check an HMAC made with the
 * issuer's public key (which everybody has) as if it were a signature; `none` is no signature at all.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * An issuer identifier as OpenID Connect Discovery defines it: https, no query or fragment. Plain
 * http only on loopback (a provider on the same host, or a test), since keys fetched over plain
 * http from anywhere else could be swapped on the way.
 */
export const issuerUrl = z.string().superRefine((text, ctx) => {
  if (!URL.canParse(text)) {
    ctx.addIssue({ code: 'custom', message: 'expected the issuer URL exactly as the provider writes it in its tokens (iss), e.g. https://example.okta.com/oauth2/default' });
    return;
  }
  const url = new URL(text);
  if (url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'an issuer URL has no query, fragment or credentials' });
  } else if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    ctx.addIssue({ code: 'custom', message: 'an issuer must use https (plain http is accepted on 127.0.0.1, [::1] and localhost only)' });
  }
});

const trustName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" or "-", at most 63 characters');
const claimName = z.string().min(1).max(200);
const algorithms = z.array(z.enum(ASYMMETRIC_ALGORITHMS)).min(1).optional();
const audiences = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((value) => (Array.isArray(value) ? value : [value]));
/** A JWKS URL for an issuer that publishes no discovery document (some Kubernetes clusters). */
const jwksUri = z.url({ protocol: /^https?$/ }).optional();

function uniqueNames(items: readonly { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    if (seen.has(item.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${item.name}" is named twice` });
    seen.add(item.name);
  }
}

export const oidcIssuerSchema = z
  .object({
    /** What a login request and the CLI call this issuer (`gatehouse login --issuer okta`). */
    name: trustName,
    issuer: issuerUrl,
    clientId: z.string().min(1),
    /** For a confidential client (the web console); never shown by GET /login/config. */
    clientSecret: z.string().min(1).optional(),
    /** The ID token's `aud` must hold one of these; the client id when left out. */
    audience: audiences.optional(),
    groupsClaim: claimName.default('groups'),
    /** When left out: preferred_username, then email, then sub. */
    usernameClaim: claimName.optional(),
    scopes: z.array(z.string().min(1).regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is one word')).min(1).default(['openid', 'profile', 'email']),
    algorithms,
    jwksUri,
  })
  .strict()
  .refine((issuer) => issuer.scopes.includes('openid'), { path: ['scopes'], message: 'the scopes must include openid' })
  .transform((issuer) => ({ ...issuer, audience: issuer.audience ?? [issuer.clientId] }));
export type OidcIssuerConfig = z.output<typeof oidcIssuerSchema>;

const clockSkew = duration.default(60_000).refine((ms) => ms <= 300_000, 'at most 5m: a longer skew keeps expired tokens alive');

export const oidcConfigSchema = z
  .object({
    issuers: z.array(oidcIssuerSchema).min(1, 'name at least one issuer').superRefine(uniqueNames),
    /** Lifetime of the gta_ API token a login issues. */
    sessionTtl: duration.default(8 * 3600_000).refine((ms) => ms > 0 && ms <= 86_400_000, 'between 1s and 24h'),
    clockSkew,
    /** An ID token issued (iat) longer ago is refused, whatever its exp: a sign-in trades a fresh one. */
    maxTokenAge: duration.default(10 * 60_000).refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'between 1m and 24h'),
  })
  .strict();
export type OidcConfig = z.output<typeof oidcConfigSchema>;

/**
 * A claim's allowed values: one string or a list of them. In a value, `*` stands for any run of
 * characters (none included); every other character matches itself, case included.
 */
const conditionValue = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((value) => (Array.isArray(value) ? value : [value]));

export const workloadTrustSchema = z
  .object({
    name: trustName,
    issuer: issuerUrl,
    audience: audiences,
    /** Every claim named must match; a trust with none would accept every token the issuer signs (any repository's workflow). */
    conditions: z
      .record(claimName, conditionValue)
      .refine((c) => Object.keys(c).length > 0, 'name at least one claim condition: without one, every token this issuer signs is accepted'),
    serviceAccount: z.string().min(1),
    /** Narrows the service account's connections; all of them when left out. */
    connections: z.array(z.string().min(1)).min(1).optional(),
    ttl: duration.default(15 * 60_000).refine((ms) => ms > 0 && ms <= 12 * 3600_000, 'between 1s and 12h'),
    algorithms,
    jwksUri,
  })
  .strict();
export type WorkloadTrustConfig = z.output<typeof workloadTrustSchema>;

export const workloadConfigSchema = z
  .object({
    trust: z.array(workloadTrustSchema).min(1, 'name at least one trust').superRefine(uniqueNames),
    clockSkew,
  })
  .strict();
export type WorkloadConfig = z.output<typeof workloadConfigSchema>;
