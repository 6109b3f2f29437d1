/** The tamper-evident trail over the API: verify every chain, take a checkpoint, read the public key. */
import { z } from 'zod';
import { NotFound } from '../errors.ts';
import type { Api, ApiDeps } from './types.ts';
import { epochMs, errorResponses } from './schemas.ts';

const trailBreak = z
  .object({
    writer: z.string().describe('The replica (or `local` on SQLite) whose chain broke'),
    seq: z.number().int().describe("The place in that writer's chain"),
    kind: z.string().nullable().describe('session.start, session.end, interaction, audit.open, audit.event, audit.complete or checkpoint'),
    refId: z.string().nullable().describe('The session, interaction or audit event id (a checkpoint: the start of its hash)'),
    problem: z.string().describe('What is wrong'),
  })
  .meta({ id: 'TrailBreak' });

const cutoffsView = z
  .object({ bodies: epochMs, interactions: epochMs, sessions: epochMs, events: epochMs, ledger: epochMs })
  .partial()
  .describe('Per kind, the time before which records were removed; a kind absent was not purged');

const countsView = z.object({ bodies: z.number().int(), interactions: z.number().int(), sessions: z.number().int(), events: z.number().int(), ledger: z.number().int() });

const purgeView = z
  .object({ id: z.string().describe('The audit.purged audit event'), at: epochMs, cutoffs: cutoffsView, counts: countsView.nullable() })
  .meta({ id: 'TrustedPurge' });

const purgeReport = z
  .object({
    dryRun: z.boolean(),
    id: z.string().nullable().describe('The audit.purged audit event recording the purge; null for a dry run'),
    cutoffs: cutoffsView,
    counts: countsView.describe('Removed (bodies: emptied), or for a dry run what would be'),
    writers: z.array(z.object({ writer: z.string(), fromSeq: z.number().int(), toSeq: z.number().int(), anchorHash: z.string() })).describe("Each writer's purged range and the hash its chain now starts from"),
  })
  .meta({ id: 'PurgeReport' });

const trailReport = z
  .object({
    ok: z.boolean(),
    writers: z.array(
      z.object({
        writer: z.string(),
        entries: z.number().int(),
        checkpoints: z.number().int(),
        anchoredSeq: z.number().int().describe("The highest seq a valid checkpoint signed (this writer's own, or another writer's that saw its head): entries up to it cannot be cut off unnoticed"),
        unanchoredTail: z.number().int().describe('Entries after anchoredSeq: cutting them off goes unnoticed until a checkpoint signs them'),
        purged: z.object({ fromSeq: z.number().int(), toSeq: z.number().int() }).nullable().describe("The start of this writer's chain a trusted purge removed"),
      }),
    ),
    firstBreak: trailBreak.nullable().describe('The first broken link, by writer then seq; null when every chain verifies'),
    problems: z.array(trailBreak).describe('Every problem found (at most 100)'),
    signaturesChecked: z.boolean().describe('False when no checkpoint key is configured: checkpoints were checked against their hashes only'),
    purges: z.array(purgeView).describe('The retention purges verify trusted (on the chain, and signed when a key is configured), oldest first'),
    purgedEvents: z.number().int().describe('Ledger entries whose event a trusted purge removed'),
    purgedBodies: z.number().int().describe('Interactions whose bodies a trusted purge removed'),
  })
  .meta({ id: 'TrailReport' });

const checkpointView = z
  .object({
    writer: z.string(),
    seq: z.number().int(),
    headHash: z.string(),
    at: epochMs,
    prevCheckpointHash: z.string().nullable(),
    keyId: z.string(),
    signature: z.string().describe('base64 Ed25519 signature'),
    hash: z.string(),
  })
  .meta({ id: 'Checkpoint' });

const truncationView = z
  .object({
    originalBytes: z.number().int().describe('The body as it reached the recorder'),
    keptBytes: z.number().int().describe('What is stored: the first keptBytes bytes, cut at a character boundary'),
    sha256: z.string().describe("SHA-256 (hex) of the whole body: check a copy kept elsewhere against it"),
  })
  .meta({ id: 'TruncationMarker' });

const bodyDigestView = z.object({ sha256: z.string().describe('SHA-256 (hex) of the stored text'), bytes: z.number().int(), truncated: truncationView.optional() });

/** What an interaction's seal covers of its bodies (audit/retention-bodies.ts); the sessions API shows it beside them. */
export const bodyDigestsView = z
  .object({ request: bodyDigestView.nullable(), response: bodyDigestView.nullable() })
  .meta({ id: 'BodyDigests' })
  .describe('Digests the seal covers instead of the bodies; a body cut to recording.maxBodyBytes says so in `truncated`. Absent on rows recorded before them');

const noKey = () => new NotFound('no checkpoint key is configured: set audit.checkpoints.key or keyFile (docs/audit.md)');

export function registerTrailRoutes(api: Api, deps: ApiDeps): void {
  // Registered whatever the deps, so the OpenAPI document always describes them.
  const trail = () => {
    if (!deps.auditTrail) throw new NotFound('the audit trail is not running in this process');
    return deps.auditTrail;
  };
  api.route({
    method: 'GET',
    url: '/audit/verify',
    schema: {
      tags: ['audit'],
      operationId: 'verifyAuditTrail',
      summary: "Walk every writer's hash chain and its signed checkpoints; name the first broken link",
      response: { 200: trailReport.describe('What was checked and what is wrong'), ...errorResponses },
    },
    config: { allow: ['auditor'] },
    handler: async () => {
      const report = await trail().verify();
      return { ...report, writers: [...report.writers], problems: [...report.problems], purges: [...report.purges] };
    },
  });
  api.route({
    method: 'POST',
    url: '/audit/checkpoints',
    schema: {
      tags: ['audit'],
      operationId: 'createAuditCheckpoint',
      summary: "Sign this replica's chain head now (checkpoints are otherwise taken every audit.checkpoints.every)",
      response: { 200: z.object({ checkpoint: checkpointView.nullable().describe('Null when the last checkpoint already covers the head') }).describe('The checkpoint signed'), ...errorResponses },
    },
    handler: async () => {
      if (!trail().signingKey) throw noKey();
      return { checkpoint: await trail().checkpoint() };
    },
  });
  api.route({
    method: 'POST',
    url: '/audit/purge',
    schema: {
      tags: ['audit'],
      operationId: 'purgeAuditTrail',
      summary: 'Remove what is past audit.retention now, recording what was removed on the chain (also runs every audit.retention.every)',
      querystring: z.object({ dryRun: z.enum(['true', 'false']).optional().describe('Count what would be removed; change nothing') }),
      response: { 200: purgeReport.describe('What was (or would be) removed'), ...errorResponses },
    },
    handler: async (request) => {
      const run = trail().purge({ dryRun: request.query.dryRun === 'true' });
      if (!run) throw new NotFound('no retention is configured: set audit.retention (docs/audit.md)');
      const report = await run;
      return { ...report, writers: report.writers.map((w) => ({ ...w })) };
    },
  });
  api.route({
    method: 'GET',
    url: '/audit/public-key',
    schema: {
      tags: ['audit'],
      operationId: 'getAuditPublicKey',
      summary: 'The public key checkpoints are signed with, for verifying them offline',
      response: {
        200: z.object({ keyId: z.string(), publicKey: z.string().describe('SPKI PEM') }).describe('The current key; retired keys are kept by whoever rotated them'),
        ...errorResponses,
      },
    },
    config: { allow: ['auditor'] },
    handler: async () => {
      const key = trail().signingKey;
      if (!key) throw noKey();
      return { keyId: key.keyId, publicKey: key.publicPem };
    },
  });
}
