import { z } from 'zod';
import { parseDuration } from '../util/durations.ts';
import { policyConfigSchema } from '../policy/schema.ts';
import { maskingConfigSchema } from '../masking/config.ts';
import { parseByteSize } from './byte-size.ts';

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

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

const credentialSchema = z.union([
  z.string().min(1).transform((value) => ({ type: 'bearer' as const, value })),
  z.object({ type: z.literal('bearer'), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('header'), header: z.string().min(1), value: z.string().min(1) }).strict(),
  z.object({ type: z.literal('basic'), username: z.string(), value: z.string().min(1) }).strict(),
]);
export type UpstreamCredential = z.output<typeof credentialSchema>;

export const CONNECTION_TYPES = ['openai', 'http', 'postgres'] as const;

/**
 * The upstream URL and credential must suit the connection type: http(s) for openai and http;
 * postgres://host:port/dbname?sslmode=… with a basic (username + password) credential for postgres.
 */
export function checkConnectionShape(
  c: { type: (typeof CONNECTION_TYPES)[number]; upstream: string; credential?: UpstreamCredential | undefined },
  ctx: z.RefinementCtx,
): void {
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

export const configSchema = z
  .object({
    http: z
      .object({
        listen: listenAddress.default({ host: '127.0.0.1', port: 8080 }),
        bodyLimit: byteSize.default(10 * 1024 * 1024),
        upstreamTimeout: duration.default(60_000),
        /** Take the client address from X-Forwarded-For: only behind a load balancer you run. */
        trustProxy: z.boolean().default(false),
      })
      .strict()
      .default({ listen: { host: '127.0.0.1', port: 8080 }, bodyLimit: 10 * 1024 * 1024, upstreamTimeout: 60_000, trustProxy: false }),
    admin: z
      .object({ listen: listenAddress.optional() })
      .strict()
      .default({}),
    /** The PostgreSQL listener; started when this section sets `listen` or any postgres connection exists. */
    postgres: z
      .object({
        listen: listenAddress.optional(),
        tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
        /** Accept a token as a cleartext password over plain TCP from non-loopback clients. */
        allowCleartextOverNetwork: z.boolean().default(false),
      })
      .strict()
      .default({ allowCleartextOverNetwork: false }),
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
      })
      .strict()
      .default({
        tokens: { defaultTtl: 15 * 60_000, maxTtl: 12 * 3600_000 },
        serviceAccounts: { maxExpiry: 90 * 86400_000 },
        cacheTtl: 1_000,
      }),
    recording: z
      .object({ maxBodyBytes: byteSize.default(64 * 1024) })
      .strict()
      .default({ maxBodyBytes: 64 * 1024 }),
    connections: z.array(connectionSchema).default([]),
    policy: policyConfigSchema.prefault({}),
    masking: maskingConfigSchema.optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type GatewayConfig = z.output<typeof configSchema>;
