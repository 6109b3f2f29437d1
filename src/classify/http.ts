import type { HttpFacts } from '../interaction.ts';

/** Headers that carry credentials or hop-level details: never shown to policy or recordings. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  // Gemini's key header (providers/gemini.ts): a Gatehouse token there is never forwarded or recorded.
  'x-goog-api-key',
  'cookie',
  'set-cookie',
]);

/** Headers a policy condition may read: the ones that describe a request, not the ones that prove who sent it. */
const POLICY_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'accept',
  'user-agent',
  'x-request-id',
  'openai-organization',
  'openai-project',
  'openai-beta',
]);

export function classifyHttpRequest(method: string, pathWithQuery: string, headers: Readonly<Record<string, string | string[] | undefined>>): HttpFacts {
  const q = pathWithQuery.indexOf('?');
  const picked: Record<string, string> = {};
  for (const name of POLICY_HEADERS) {
    const value = headers[name];
    if (value !== undefined) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    method,
    path: q === -1 ? pathWithQuery : pathWithQuery.slice(0, q),
    query: q === -1 ? '' : pathWithQuery.slice(q + 1),
    headers: picked,
  };
}
