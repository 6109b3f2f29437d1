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

const trailReport = z
  .object({
    ok: z.boolean(),
    writers: z.array(
      z.object({
        writer: z.string(),
        entries: z.number().int(),
        checkpoints: z.number().int(),
        anchoredSeq: z.number().int().describe('The highest seq a valid checkpoint signed: entries up to it cannot be cut off unnoticed'),
      }),
    ),
    firstBreak: trailBreak.nullable().describe('The first broken link, by writer then seq; null when every chain verifies'),
    problems: z.array(trailBreak).describe('Every problem found (at most 100)'),
    signaturesChecked: z.boolean().describe('False when no checkpoint key is configured: checkpoints were checked against their hashes only'),
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
      return { ...report, writers: [...report.writers], problems: [...report.problems] };
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
