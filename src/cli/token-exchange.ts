import { readFile } from 'node:fs/promises';
import { InvalidArgument, UpstreamError } from '../errors.ts';
import { ApiError } from './api-client.ts';

export interface ExchangedToken {
  readonly access_token: string;
  readonly issued_token_type: string;
  readonly token_type: string;
  readonly expires_in: number;
  readonly scope: string;
}

/** The workload's own token, from a file or standard input: never from the command line, where `ps` would show it. */
export async function readSubjectToken(opts: { subjectTokenFile?: string; subjectToken?: string }, stdin: () => Promise<string>): Promise<string> {
  if (opts.subjectToken !== undefined && opts.subjectToken !== '-') {
    throw new InvalidArgument('--subject-token takes only "-" (read it from standard input); use --subject-token-file for a file');
  }
  const text = opts.subjectTokenFile !== undefined ? await readFile(opts.subjectTokenFile, 'utf8') : await stdin();
  const token = text.trim();
  if (!token) throw new InvalidArgument('the subject token is empty');
  return token;
}

/** RFC 8693 token exchange at POST /api/v1/oauth2/token; an RFC 6749 error comes back as an ApiError with the Gatehouse code. */
export async function exchangeSubjectToken(url: string, subjectToken: string, connections: readonly string[] | undefined): Promise<ExchangedToken> {
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    ...(connections && connections.length > 0 ? { scope: connections.join(' ') } : {}),
  });
  let response: Response;
  try {
    response = await fetch(new URL('/api/v1/oauth2/token', url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  } catch (err) {
    throw new UpstreamError('upstream_unreachable', `cannot reach the gateway at ${url} (set GATEHOUSE_URL)`, { cause: err });
  }
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const description = typeof json.error_description === 'string' ? json.error_description : `HTTP ${response.status}`;
    throw new ApiError(json.gatehouse_code ?? 'internal', `${String(json.error ?? 'error')}: ${description}`);
  }
  return json as unknown as ExchangedToken;
}
