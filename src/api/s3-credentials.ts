/**
 * S3 credentials (docs/s3.md): `POST /s3/credentials` issues an agent token scoped to one s3
 * connection and returns it in S3's form, an access key id naming the token and a secret derived
 * from it under k_s3; `GET /s3/objects` answers which requests wrote an object.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ForbiddenError, InvalidArgument } from '../errors.ts';
import { noteAction } from '../audit/admin-actions.ts';
import { accessKeyIdOf, s3CredentialKey, type S3CredentialKey } from '../adapters/s3/credential-key.ts';
import type { SecretBox } from '../store/secret-box.ts';
import type { Store } from '../store/types.ts';
import type { Api, ApiDeps } from './types.ts';
import { durationField } from './request.ts';
import { epochMs, errorResponses } from './schemas.ts';

const SETTING = 's3_credential_key';
const AAD = 'setting:s3_credential_key';

/** Reads k_s3, creating it once (whichever replica stores it first wins), sealed under the master key. */
export async function loadS3CredentialKey(store: Store, box: SecretBox): Promise<S3CredentialKey> {
  const sealed = await store.setSettingIfAbsent(SETTING, box.seal(randomBytes(32).toString('base64'), AAD));
  return s3CredentialKey(Buffer.from(box.open(sealed, AAD), 'base64'));
}

const createBody = z
  .object({
    connection: z.string().min(1).describe('The s3 connection the credential reaches'),
    ttl: durationField.optional().describe('Lifetime, e.g. 1h; the configured default when left out'),
    name: z.string().min(1).max(200).default('s3 credential').describe('Shown as the agent in object metadata and records'),
  })
  .strict();

const issued = z
  .object({
    accessKeyId: z.string(),
    secretAccessKey: z.string().describe('Shown once; derived, never stored'),
    tokenId: z.string().describe('Revoke with DELETE /tokens/{id}'),
    connection: z.string(),
    expiresAt: epochMs.nullable(),
  })
  .meta({ id: 'S3Credential' });

const objectWrite = z.object({
  interactionId: z.string(),
  sessionId: z.string().nullable(),
  principal: z.string().nullable(),
  agent: z.string().nullable(),
  connection: z.string(),
  bucket: z.string(),
  key: z.string(),
  etag: z.string().nullable(),
  versionId: z.string().nullable(),
  writtenAt: epochMs,
});

export function registerS3CredentialRoutes(api: Api, deps: ApiDeps & { s3Key: S3CredentialKey }): void {
  const { store, credentials, connections } = deps;

  api.route({
    method: 'POST',
    url: '/s3/credentials',
    schema: {
      tags: ['s3'],
      operationId: 'createS3Credential',
      summary: 'Issue a short-lived S3 access key id and secret for one s3 connection',
      body: createBody,
      response: { 201: issued.describe('Issued'), ...errorResponses },
    },
    config: { allow: ['user'] },
    handler: async (request, reply) => {
      const body = request.body;
      const caller = request.caller!;
      if (!caller.roles.includes('admin') && !caller.connections.includes(body.connection)) {
        throw new ForbiddenError('forbidden_role', `your role grants do not cover connection ${body.connection}`, { details: { connections: [body.connection] } });
      }
      const connection = connections.get(body.connection);
      if (!connection || connection.type !== 's3') throw new InvalidArgument(`no s3 connection named "${body.connection}"`);
      const principal = caller.auth.principal;
      const ttlMs = credentials.resolveTtl(body.ttl, principal.groups);
      // The gth_ secret is dropped: the token is used only through S3 signatures, proven with the derived secret.
      const { token } = await credentials.issue({ principal, kind: 'agent', name: body.name, connections: [body.connection], ttlMs });
      const accessKeyId = accessKeyIdOf(token.id);
      noteAction(request, { target: token.id, details: { connection: body.connection, expiresAt: token.expiresAt, s3: true } });
      return reply.code(201).send({ accessKeyId, secretAccessKey: deps.s3Key.secretFor(accessKeyId), tokenId: token.id, connection: body.connection, expiresAt: token.expiresAt });
    },
  });

  api.route({
    method: 'GET',
    url: '/s3/objects',
    schema: {
      tags: ['s3'],
      operationId: 'listS3ObjectWrites',
      summary: 'Which recorded requests wrote an object (newest first)',
      querystring: z.object({ bucket: z.string().min(1), key: z.string().min(1), connection: z.string().min(1).optional() }).strict(),
      response: { 200: z.object({ writes: z.array(objectWrite) }).describe('The writes'), ...errorResponses },
    },
    config: { allow: ['auditor'] },
    handler: async (request) => {
      const { bucket, key, connection } = request.query;
      const rows = await store.listS3ObjectWrites(bucket, key, connection);
      const writes = await Promise.all(
        rows.map(async (row) => {
          const interaction = await store.getInteraction(row.interactionId);
          const session = interaction ? await store.getSession(interaction.sessionId) : null;
          const token = session?.tokenId ? await store.getToken(session.tokenId) : null;
          return { ...row, sessionId: interaction?.sessionId ?? null, principal: session?.principalName ?? null, agent: token?.name ?? null };
        }),
      );
      return { writes };
    },
  });
}
