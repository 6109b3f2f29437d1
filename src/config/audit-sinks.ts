/**
 * `audit.sinks` in gatehouse.yaml: where audit events are exported (audit/outbox.ts, docs/audit-export.md).
 * Secrets (a webhook's HMAC secret, a Splunk HEC token, OTLP headers) are given as `${ENV}`
 * references like every other secret; messages never repeat a value.
 */
import { z } from 'zod';
import { durationSchema } from '../util/duration-schema.ts';
import { outboundUrl } from './outbound-url.ts';
import { parseByteSize } from './byte-size.ts';

/** The ledger's kinds of entry (audit/canonical.ts LEDGER_KINDS; event-schema.ts checks the two agree). */
export const EXPORT_KINDS = ['session.start', 'session.end', 'interaction', 'audit.open', 'audit.event', 'audit.complete'] as const;

const size = z.union([z.number().int().positive(), z.string()]).transform((value, ctx) => {
  try {
    return typeof value === 'number' ? value : parseByteSize(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const positiveDuration = durationSchema.refine((ms) => ms > 0, 'must be longer than zero');

/** What every sink has: its name (the cursor's key), what it exports and how it retries. */
const common = {
  /** Names the sink's cursor in the store: renaming a sink starts it again from the oldest event. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'use 1-63 lowercase letters, digits, - and _'),
  /** `gatehouse`: gatehouse.audit.v1 events; `ocsf`: the same events mapped to OCSF classes. */
  schema: z.enum(['gatehouse', 'ocsf']).default('gatehouse'),
  /** Only these kinds of event; every kind when absent. Skipped events still move the cursor. */
  kinds: z.array(z.enum(EXPORT_KINDS)).min(1).optional(),
  /** Events per delivery. */
  batchSize: z.number().int().min(1).max(10_000).default(100),
  /** How often the sink looks for new events. */
  interval: positiveDuration.default(1_000),
  /** Back-off after a failure: doubles from min up to max, and resets on success. */
  retry: z
    .object({ min: positiveDuration.default(1_000), max: positiveDuration.default(300_000) })
    .strict()
    .refine((r) => r.max >= r.min, { message: 'max must be at least min' })
    .default({ min: 1_000, max: 300_000 }),
  /** Per delivery attempt (network sinks). */
  timeout: positiveDuration.default(10_000),
  /** Adds the recorded (already masked) request and response bodies to interaction events. */
  includeBodies: z.boolean().default(false),
};

const fileSink = z
  .object({
    ...common,
    type: z.literal('file'),
    /** Relative to the config file's folder. */
    path: z.string().min(1),
    rotate: z
      .object({ maxSize: size.default(100 * 1024 * 1024), keep: z.number().int().min(1).max(1_000).default(10) })
      .strict()
      .default({ maxSize: 100 * 1024 * 1024, keep: 10 }),
  })
  .strict();

const stdoutSink = z.object({ ...common, type: z.literal('stdout') }).strict();

const webhookSink = z
  .object({
    ...common,
    type: z.literal('webhook'),
    url: outboundUrl,
    /** `gatehouse`: a JSON array signed with HMAC-SHA256; `splunk-hec`: Splunk's HTTP Event Collector envelope. */
    format: z.enum(['gatehouse', 'splunk-hec']).default('gatehouse'),
    /** The HMAC-SHA256 key (format gatehouse). */
    secret: z.string().min(16, 'use a secret of at least 16 characters (e.g. openssl rand -hex 32)').optional(),
    /** The HEC token (format splunk-hec), sent as `Authorization: Splunk <token>`. */
    token: z.string().min(1).optional(),
    /** Splunk's index, source and sourcetype for each event (format splunk-hec). */
    index: z.string().min(1).optional(),
    source: z.string().min(1).default('gatehouse'),
    sourcetype: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.format === 'gatehouse' && s.secret === undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'a webhook sink signs every batch: give secret (e.g. ${AUDIT_WEBHOOK_SECRET})' });
    if (s.format === 'splunk-hec' && s.token === undefined) ctx.addIssue({ code: 'custom', path: ['token'], message: 'format splunk-hec needs token (e.g. ${SPLUNK_HEC_TOKEN})' });
  });

const syslogSink = z
  .object({
    ...common,
    type: z.literal('syslog'),
    transport: z.enum(['tcp', 'tls', 'udp']).default('tcp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535).default(514),
    /** RFC 5424 facility, 0-23; 13 is "log audit". */
    facility: z.number().int().min(0).max(23).default(13),
    appName: z.string().regex(/^[!-~]{1,48}$/, 'printable ASCII without spaces, at most 48 characters').default('gatehouse'),
    /** Transport tls: the CA (PEM, or a file relative to the config) that signs the receiver's certificate; the system's CAs when absent. */
    ca: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    /** Transport tls: the name the receiver's certificate must carry, when it is not `host`. */
    servername: z.string().min(1).optional(),
    /** Transport udp: a larger message is replaced by a stub that keeps its id and chain hash. */
    maxDatagram: z.number().int().min(480).max(65_000).default(8_192),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.transport !== 'tls' && (s.ca !== undefined || s.caFile !== undefined || s.servername !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['transport'], message: 'ca, caFile and servername apply to transport tls only' });
    }
    if (s.ca !== undefined && s.caFile !== undefined) ctx.addIssue({ code: 'custom', path: ['ca'], message: 'give ca or caFile, not both' });
  });

const otlpSink = z
  .object({
    ...common,
    type: z.literal('otlp'),
    /** The collector's OTLP/HTTP logs endpoint, e.g. https://collector:4318/v1/logs. */
    url: outboundUrl,
    /** Sent with every export (an API key: give it as ${ENV}). */
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a header name'), z.string()).default({}),
    serviceName: z.string().min(1).default('gatehouse'),
  })
  .strict();

export const auditSinkSchema = z.discriminatedUnion('type', [fileSink, stdoutSink, webhookSink, syslogSink, otlpSink]);

export const auditSinksSchema = z
  .array(auditSinkSchema)
  .max(32)
  .superRefine((sinks, ctx) => {
    const seen = new Set<string>();
    sinks.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `two sinks are named "${s.name}": each sink keeps its own cursor` });
      seen.add(s.name);
    });
  });

export type AuditSinkConfig = z.output<typeof auditSinkSchema>;
export type AuditSinkType = AuditSinkConfig['type'];
