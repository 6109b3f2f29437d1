import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';
import { policyConfigSchema } from '../policy/schema.ts';
import { maskingConfigSchema } from '../masking/config.ts';
import { parseByteSize } from './byte-size.ts';
import { oidcConfigSchema, workloadConfigSchema } from './identity-oidc.ts';
import { approvalNotifySchema } from './approval-notify.ts';
import { approvalAccessSchema } from './approval-access.ts';
import { checkMcpShape, mcpOptionsSchema } from './mcp.ts';
import { inventorySchema } from './inventory.ts';
import { auditRetentionSchema } from './audit-retention.ts';
import { auditSinksSchema } from './audit-sinks.ts';

const duration = durationSchema;

const byteSize = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  try {
    return typeof value === 'number' ? value : parseByteSize(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** `host:port`; IPv6 hosts in brackets (`[::1]:8080`). */
const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080')
  .transform((text) => {
    const at = text.lastIndexOf(':');
    return { host: text.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(text.slice(at + 1)) };
  });

export const CONNECTION_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * The identity provider's signing certificates: PEM (one or several blocks) or bare base64, one
 * string or a list (two while the provider rotates its key). Each must parse as X.509; out come PEMs.
 */
const samlCertificates = z.union([z.string(), z.array(z.string()).min(1)]).transform((value, ctx) => {
  const pems: string[] = [];
  for (const text of Array.isArray(value) ? value : [value]) {
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [text];
    for (const block of blocks) {
      const body = block.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
      try {
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error('not base64');
        new X509Certificate(Buffer.from(body, 'base64'));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected an X.509 certificate, as PEM or bare base64 (the IdP metadata\'s X509Certificate)' });
        return z.NEVER;
      }
      pems.push(`-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`);
    }
  }
  return pems;
});

const webOrigin = z.url({ protocol: /^https?$/ }).refine((url) => new URL(url).pathname === '/' && !new URL(url).search, 'expected an origin such as https://gatehouse.example.com, without a path');

/** identity.saml: Gatehouse as a SAML 2.0 service provider (identity/saml/). */
const samlSchema = z
  .object({
    /** The SP entity id the IdP puts in the assertion's Audience; defaults to the metadata URL. */
    entityId: z.string().min(1).optional(),
    /** Where browsers reach the gateway; the ACS URL is built from it. */
    baseUrl: webOrigin,
    idp: z
      .object({ entityId: z.string().min(1), ssoUrl: z.url({ protocol: /^https?$/ }), certificate: samlCertificates })
      .strict(),
    groupsAttribute: z.string().min(1).default('groups'),
    /** An attribute holding the user name; the assertion's NameID when left out. */
    usernameAttribute: z.string().min(1).optional(),
    sessionTtl: duration.default(8 * 3600_000).refine((ms) => ms > 0 && ms <= 86_400_000, 'between 1s and 24h'),
    clockSkew: duration.default(60_000).refine((ms) => ms <= 300_000, 'at most 5m'),
  })
  .strict()
  .transform((saml) => {
    const baseUrl = saml.baseUrl.replace(/\/$/, '');
    return { ...saml, baseUrl, entityId: saml.entityId ?? `${baseUrl}/api/v1/saml/metadata` };
  });
export type SamlConfig = z.output<typeof samlSchema>;

const credentialSchema = z.union([
  z.string().min(1).transform((value) => ({ type: 'bearer' as const, value })),
  z.object({ type: z.literal('bearer'), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('header'), header: z.string().min(1), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('basic'), username: z.string(), value: z.string().min(1) }).strict(),
  /**
   * azure-openai: an Entra ID token the gateway obtains itself (client-credentials grant) and
   * refreshes before it expires (providers/entra-token.ts). `tokenUrl` defaults to the tenant's.
   */
  z
    .object({
      type: z.literal('entra'),
      tenant: z.string().regex(/^[A-Za-z0-9.-]{1,100}$/, 'a tenant id (GUID) or domain'),
      clientId: z.string().min(1),
      clientSecret: z.string().min(1),
      scope: z.string().min(1).default('https://cognitiveservices.azure.com/.default'),
      tokenUrl: z.url({ protocol: /^https?$/ }).optional(),
    })
    .strict(),
  /**
   * bedrock and s3: an AWS access key the gateway signs upstream requests with (Signature V4).
   * `region` is the signing region; `sessionToken` for temporary keys.
   */
  z
    .object({
      type: z.literal('aws'),
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      region: z.string().regex(/^[a-z0-9-]{1,40}$/, 'an AWS region such as us-east-1').default('us-east-1'),
      sessionToken: z.string().min(1).optional(),
    })
    .strict(),
]);
export type UpstreamCredential = z.output<typeof credentialSchema>;

export const CONNECTION_TYPES = ['openai', 'http', 'postgres', 'mcp', 'anthropic', 'gemini', 'azure-openai', 'bedrock', 's3'] as const;

/** Inference providers spoken natively (src/providers/): each has its own API, credential form and stream format. */
export const PROVIDER_TYPES = ['anthropic', 'gemini', 'azure-openai', 'bedrock'] as const;

/**
 * The upstream URL and credential must suit the connection type: http(s) for openai and http;
 * postgres://host:port/dbname?sslmode=… with a basic (username + password) credential for postgres.
 */
export function checkConnectionShape(
  c: { type: (typeof CONNECTION_TYPES)[number]; upstream: string; credential?: UpstreamCredential | undefined; mcp?: z.output<typeof mcpOptionsSchema> | undefined; s3?: { allowUnmaskedRanges: boolean; addressing: 'path' | 'virtual' } | undefined },
  ctx: z.RefinementCtx,
): void {
  checkMcpShape(c, ctx);
  if (c.type === 'mcp') return;
  const protocol = URL.canParse(c.upstream) ? new URL(c.upstream).protocol : '';
  if (c.type === 'postgres') {
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
      ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'expected a postgres://host:port/dbname URL' });
    }
    if (c.credential !== undefined && c.credential.type !== 'basic') {
      ctx.addIssue({ code: 'custom', path: ['credential'], message: 'a postgres connection needs { type: basic, username, value }' });
    }
  } else if (protocol !== 'http:' && protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', path: ['upstream'], message: 'expected an http:// or https:// URL' });
  }
  if (c.type === 'bedrock' && c.credential !== undefined && c.credential.type !== 'aws') {
    ctx.addIssue({ code: 'custom', path: ['credential'], message: 'a bedrock connection signs with an AWS key: { type: aws, accessKeyId, secretAccessKey, region }' });
  }
  if (c.type === 's3' && c.credential?.type !== 'aws') {
    ctx.addIssue({ code: 'custom', path: ['credential'], message: 'an s3 connection needs { type: aws, accessKeyId, secretAccessKey, region }' });
  }
  if (c.s3 !== undefined && c.type !== 's3') {
    ctx.addIssue({ code: 'custom', path: ['s3'], message: 's3 options are for s3 connections only' });
  }
  if (c.credential?.type === 'entra' && c.type !== 'azure-openai') {
    ctx.addIssue({ code: 'custom', path: ['credential'], message: 'an entra credential is for azure-openai connections only' });
  }
  // A provider key goes in the provider's header (providers/): a username and password have nowhere to go.
  if ((c.type === 'anthropic' || c.type === 'gemini' || c.type === 'azure-openai') && c.credential?.type === 'basic') {
    ctx.addIssue({ code: 'custom', path: ['credential'], message: `a ${c.type} connection takes its API key (a string, or { type: header, header, value })${c.type === 'azure-openai' ? ' or an entra credential' : ''}` });
  }
}

/** What describes a connection besides its name: the config file's entries and the API's PUT body. */
const connectionFields = {
  type: z.enum(CONNECTION_TYPES),
  // checkConnectionShape says what URL the type needs, so an unparseable one gets one clear message.
  upstream: z.string().min(1, 'expected a URL'),
  credential: credentialSchema.optional(),
  tags: z.array(z.string().min(1)).default([]),
  /**
   * Cookies are a session between the agent and the upstream that the gateway neither sees into
   * nor records as such: off unless a connection needs them (`cookie` to the upstream, `set-cookie` back).
   */
  passCookies: z.boolean().default(false),
  /** MCP connections: stdio command, session cap, message and time bounds (config/mcp.ts). */
  mcp: mcpOptionsSchema.optional(),
  /** s3 connections (adapters/s3): Range reads of masked types, and how the upstream addresses buckets. */
  s3: z
    .object({
      /** Under a masking profile a Range GET is refused (masking needs the context); true sends ranges unmasked. */
      allowUnmaskedRanges: z.boolean().default(false),
      /** `path` (https://host/bucket/key) or `virtual` (https://bucket.host/key) towards the upstream. */
      addressing: z.enum(['path', 'virtual']).default('path'),
    })
    .strict()
    .optional(),
};

/** The admin API's body for PUT /connections/:name. */
export const connectionBodySchema = z.object(connectionFields).strict().superRefine(checkConnectionShape);

export const connectionSchema = z
  .object({
    name: z.string().regex(CONNECTION_NAME, 'lower-case letters, digits, ".", "_" or "-", at most 63 characters'),
    ...connectionFields,
  })
  .strict()
  .superRefine(checkConnectionShape);
export type ConnectionConfig = z.output<typeof connectionSchema>;
export { credentialSchema };

/** The roles identity.roles grants; identity/roles.ts checks that its ROLES is this same list. */
export const ROLE_NAMES = ['admin', 'approver', 'auditor', 'user'] as const;

/**
 * A group name as the identity provider sends it. Matched exactly (case and all), so a name with
 * spaces around it, control characters or a lone `*` (which is no wildcard) is a mistake to report.
 */
const groupName = z
  .string()
  .min(1)
  .max(256)
  .refine((name) => name.trim() === name, 'no spaces before or after a group name: groups are matched exactly')
  .refine((name) => !/[\u0000-\u001f\u007f]/.test(name), 'control characters are not allowed in a group name')
  .refine((name) => name !== '*', '"*" is not a wildcard: name the group');

/** One grant of identity.roles: members of `group` hold `role`; a `user` grant names the connections it covers. */
export const roleGrantSchema = z
  .object({
    group: groupName,
    role: z.enum(ROLE_NAMES),
    connections: z
      .array(z.string().regex(CONNECTION_NAME, 'a connection name: lower-case letters, digits, ".", "_" or "-"'))
      .min(1, 'name at least one connection')
      .optional(),
  })
  .strict()
  .superRefine((grant, ctx) => {
    if (grant.role === 'user' && !grant.connections) {
      ctx.addIssue({ code: 'custom', path: ['connections'], message: 'a user grant names the connections its members may issue tokens for' });
    }
    if (grant.role !== 'user' && grant.connections) {
      ctx.addIssue({ code: 'custom', path: ['connections'], message: `only a user grant names connections; ${grant.role} is not limited to some` });
    }
    const seen = new Set<string>();
    for (const [i, name] of (grant.connections ?? []).entries()) {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['connections', i], message: `"${name}" is listed twice` });
      seen.add(name);
    }
  });
export type RoleGrantConfig = z.output<typeof roleGrantSchema>;

const roleGrants = z
  .array(roleGrantSchema)
  .default([])
  .superRefine((grants, ctx) => {
    const seen = new Set<string>();
    for (const [i, grant] of grants.entries()) {
      const key = JSON.stringify([grant.group, grant.role]);
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i], message: `group "${grant.group}" is granted ${grant.role} twice: merge the two` });
      seen.add(key);
    }
  });

const listenerTls = z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict();

export const configSchema = z
  .object({
    http: z
      .object({
        listen: listenAddress.default({ host: '127.0.0.1', port: 8080 }),
        bodyLimit: byteSize.default(10 * 1024 * 1024),
        upstreamTimeout: duration.default(60_000),
        /** Take the client address from X-Forwarded-For: only behind a load balancer you run. */
        trustProxy: z.boolean().default(false),
        /** HTTPS on this listener: certificate and key files, re-read when they change. */
        tls: listenerTls.optional(),
      })
      .strict()
      .default({ listen: { host: '127.0.0.1', port: 8080 }, bodyLimit: 10 * 1024 * 1024, upstreamTimeout: 60_000, trustProxy: false }),
    admin: z
      .object({ listen: listenAddress.optional(), tls: listenerTls.optional() })
      .strict()
      .default({}),
    /** The PostgreSQL listener; started when this section sets `listen` or any postgres connection exists. */
    postgres: z
      .object({
        listen: listenAddress.optional(),
        tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
        /** Accept a token as a cleartext password over plain TCP from non-loopback clients. */
        allowCleartextOverNetwork: z.boolean().default(false),
        /** Startup settings refused on top of the built-in list (docs/postgres.md): names, or prefixes ending in `*`. */
        refuseStartupSettings: z.array(z.string().min(1).max(200)).max(500).default([]),
        /** How a client proves its token (docs/postgres.md "SCRAM"): scram, cleartext, or both (SCRAM for a user name with SCRAM-ready tokens). */
        auth: z.enum(['scram', 'cleartext', 'both']).default('both'),
      })
      .strict()
      .default({ allowCleartextOverNetwork: false, refuseStartupSettings: [], auth: 'both' }),
    store: z
      .object({
        sqlitePath: z.string().min(1).default('./data/gatehouse.db'),
        /** Prefer GATEHOUSE_DATABASE_URL; set here only as a ${ENV} reference. */
        databaseUrl: z.string().min(1).optional(),
      })
      .strict()
      .default({ sqlitePath: './data/gatehouse.db' }),
    identity: z
      .object({
        tokens: z
          .object({ defaultTtl: duration.default(15 * 60_000), maxTtl: duration.default(12 * 3600_000) })
          .strict()
          .default({ defaultTtl: 15 * 60_000, maxTtl: 12 * 3600_000 }),
        serviceAccounts: z
          .object({ maxExpiry: duration.default(90 * 86400_000) })
          .strict()
          .default({ maxExpiry: 90 * 86400_000 }),
        /** How long a verified token may be trusted from memory before the store is asked again. */
        cacheTtl: duration.default(1_000),
        /** SAML 2.0 sign-in for the web console; off unless set. */
        saml: samlSchema.optional(),
        /** Admin API roles from identity-provider groups (identity/roles.ts); swapped on reload. */
        roles: roleGrants,
        /** OpenID Connect sign-in for people (identity/oidc/); off unless set. */
        oidc: oidcConfigSchema.optional(),
        /** Workload identity federation: external tokens traded for gth_ ones (identity/workload-*.ts). */
        workload: workloadConfigSchema.optional(),
      })
      .strict()
      .default({
        tokens: { defaultTtl: 15 * 60_000, maxTtl: 12 * 3600_000 },
        serviceAccounts: { maxExpiry: 90 * 86400_000 },
        cacheTtl: 1_000,
        roles: [],
      }),
    /** Several gateways on one PostgreSQL store: how they notice each other (unused on SQLite, where one node runs). */
    replicas: z
      .object({
        heartbeat: duration.default(5_000),
        goneAfter: duration.default(30_000),
        eventPoll: duration.default(1_000),
        /**
         * How often each replica asks the store, in one query, about the tokens its live sessions
         * use (and ends expired ones): the fallback for a revocation whose event was lost.
         */
        revocationSweep: duration.default(1_000),
      })
      .strict()
      .superRefine((r, ctx) => {
        // Two missed beats are not yet gone: a pause (GC, a slow store) must not close a live replica's sessions.
        if (r.goneAfter < 3 * r.heartbeat) ctx.addIssue({ code: 'custom', path: ['goneAfter'], message: 'goneAfter must be at least three heartbeats' });
      })
      .default({ heartbeat: 5_000, goneAfter: 30_000, eventPoll: 1_000, revocationSweep: 1_000 }),
    shutdown: z
      .object({
        /** How long a stop waits for requests under way before it cuts them (recorded interrupted). */
        drainTimeout: duration.default(20_000),
      })
      .strict()
      .default({ drainTimeout: 20_000 }),
    recording: z
      .object({ maxBodyBytes: byteSize.default(64 * 1024) })
      .strict()
      .default({ maxBodyBytes: 64 * 1024 }),
    /** The tamper-evident trail's signed checkpoints (audit/trail.ts, docs/audit.md). */
    audit: z
      .object({
        /** Export sinks: every audit event delivered at least once, in order (audit/outbox.ts, docs/audit-export.md). */
        sinks: auditSinksSchema.optional(),
        checkpoints: z
          .object({
            key: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
            // Entries after the last checkpoint can be cut off unnoticed: a minute bounds that window.
            every: duration.default(60_000),
            sink: z.string().min(1).optional(),
            trustedKeys: z.array(z.string().min(1)).optional(),
          })
          .strict()
          .refine((c) => (c.key === undefined) !== (c.keyFile === undefined), { message: 'give exactly one of key (a PEM, e.g. ${GATEHOUSE_AUDIT_KEY}) and keyFile' })
          .optional(),
        /** How long each kind of audit record is kept; the purge that removes the rest (audit/purge.ts, docs/audit.md). */
        retention: auditRetentionSchema.optional(),
      })
      .strict()
      .optional(),
    connections: z.array(connectionSchema).default([]),
    /** Agent inventory: staleness and the scheduled report of findings (src/inventory/, docs/agents.md). */
    inventory: inventorySchema.optional(),
    policy: policyConfigSchema.prefault({}),
    approvals: z
      .object({
        /** Webhook and Slack notifications of approvals created and decided (approvals/notify/). */
        notify: approvalNotifySchema.optional(),
        /** Members of these groups may approve a held request alone (recorded as break-glass, logged at warn). Read at start. */
        breakGlassGroups: z.array(z.string().min(1)).optional(),
        /** Just-in-time access requests (`gatehouse access request`): approvers, how many, longest grant. */
        access: approvalAccessSchema.optional(),
      })
      .strict()
      .default({}),
    masking: maskingConfigSchema.optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type GatewayConfig = z.output<typeof configSchema>;
