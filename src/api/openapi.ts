import fastifySwagger from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Api } from './types.ts';
import { ADMIN_TOKEN, errorResponses, SERVICE_ACCOUNT_SECRET, TAGS } from './schemas.ts';

const openApiDocument = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .describe('An OpenAPI 3.1 document');

/**
 * Builds the OpenAPI document from the routes registered after this call and serves it. The
 * document is public: it describes shapes, never data, and a client needs it before it has a token.
 */
export async function registerOpenApi(api: Api): Promise<void> {
  await api.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse admin API',
        version: 'v1',
        description: 'Manage connections, tokens and service accounts, and read recorded sessions. See docs/api.md.',
      },
      tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
      components: {
        securitySchemes: {
          [ADMIN_TOKEN]: { type: 'http', scheme: 'bearer', description: 'An admin token (gta_…), e.g. GATEHOUSE_ADMIN_TOKEN' },
          [SERVICE_ACCOUNT_SECRET]: { type: 'http', scheme: 'bearer', description: "A service account's gts_ secret" },
        },
      },
      security: [{ [ADMIN_TOKEN]: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  api.route({
    method: 'GET',
    url: '/openapi.json',
    schema: {
      tags: ['meta'],
      operationId: 'getOpenApi',
      summary: 'This document',
      security: [],
      response: { 200: openApiDocument, ...errorResponses },
    },
    handler: async () => api.swagger() as z.output<typeof openApiDocument>,
  });
}
