import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.ts';
import type { Principal } from '../interaction.ts';

/** The security scheme every route needs unless its schema says otherwise (see server.ts). */
export const ADMIN_TOKEN = 'adminToken';
/** POST /token/exchange authenticates with a service account's gts_ secret instead. */
export const SERVICE_ACCOUNT_SECRET = 'serviceAccountSecret';

/** The tags routes are grouped under in the OpenAPI document, in the order it lists them. */
export const TAGS = {
  meta: 'Who is calling and what this API offers',
  connections: 'Upstreams the gateway forwards to; their credentials go in and never come back out',
  tokens: 'Short-lived gth_ tokens for agents, and the exchange of a gts_ secret for one',
  'service-accounts': 'Non-human identities whose gts_ secret buys short-lived tokens',
  principals: 'People and service accounts: offboarding',
  sessions: 'Recorded sessions, their interactions and whether the hash chain verifies',
  saml: 'SAML sign-in for people: metadata for the identity provider, login, the assertion consumer',
  audit: 'Admin actions: who changed what, who was refused, and every use of the break-glass admin token',
  policy: 'Asking every replica to reload its policy and masking',
  approvals: 'Requests a policy rule holds for people: list, read, approve, deny',
  access: 'Just-in-time access: ask for a connection for a while, approved as a held request; revoke a grant early',
} as const;
export type Tag = keyof typeof TAGS;

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** The one error shape of the HTTP listener (adapters/http/render.ts writes it): OpenAI's, with our code. */
export const apiError = z
  .object({
    error: z.object({
      message: z.string().describe('What went wrong, for a person; a validation failure starts with the field, e.g. "connections: …"'),
      type: z.string().describe("OpenAI's error type, so OpenAI SDKs raise the matching exception"),
      param: z.null(),
      code: z.enum(errorCodes).describe('Stable code to branch on; docs/errors.md says what to do about each'),
      gatehouse: z.record(z.string(), z.unknown()).describe('Safe details, e.g. { field, in } for invalid_argument'),
    }),
  })
  .meta({ id: 'Error', description: 'Error; the x-gatehouse-error header repeats the code' });

/** Spread into every route's `response`: any 4xx or 5xx answer has the error shape. */
export const errorResponses = {
  '4xx': apiError.describe('Refused: invalid_argument names the field; auth_* are about the token, forbidden_admin and forbidden_role about its roles'),
  '5xx': apiError.describe('The gateway failed, e.g. store_unavailable'),
} as const;

export const epochMs = z.number().int().describe('Milliseconds since the Unix epoch');

export const principalView = z
  .object({
    id: z.string(),
    kind: z.enum(['user', 'service_account', 'admin']),
    name: z.string(),
    groups: z.array(z.string()),
  } satisfies Record<keyof Principal, z.ZodType>)
  .meta({ id: 'Principal' });

export const revokedIds = z.array(z.string()).describe('Ids of the tokens this call revoked');
