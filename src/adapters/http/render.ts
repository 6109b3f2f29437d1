import type { ServerResponse } from 'node:http';
import { GatewayError, type ErrorCode } from '../../errors.ts';

/** OpenAI's error `type` for each of our codes, so OpenAI SDKs raise the matching exception class. */
const OPENAI_TYPE: Partial<Record<ErrorCode, string>> = {
  auth_missing: 'authentication_error',
  auth_invalid: 'authentication_error',
  auth_expired: 'authentication_error',
  auth_revoked: 'authentication_error',
  auth_wrong_kind: 'authentication_error',
  forbidden_connection: 'permission_error',
  forbidden_admin: 'permission_error',
  forbidden_role: 'permission_error',
  policy_denied: 'permission_error',
  // 403s, typed as the other refusals here: OpenAI SDKs raise PermissionDeniedError (by status) carrying this type and code.
  approval_required: 'permission_error',
  approval_denied: 'permission_error',
  approval_expired: 'permission_error',
  approval_withdrawn: 'permission_error',
  limit_exceeded: 'rate_limit_error',
  bad_request: 'invalid_request_error',
  body_too_large: 'invalid_request_error',
  invalid_argument: 'invalid_request_error',
  unknown_connection: 'invalid_request_error',
  not_found: 'invalid_request_error',
};

export interface ErrorBody {
  error: { message: string; type: string; param: null; code: ErrorCode; gatehouse: Record<string, unknown> };
}

/** The one error shape of the HTTP listener: OpenAI's, with our code and safe details. */
export function errorBody(error: GatewayError): ErrorBody {
  return {
    error: {
      message: error.message,
      type: OPENAI_TYPE[error.code] ?? 'api_error',
      param: null,
      code: error.code,
      gatehouse: { ...error.details },
    },
  };
}

export function errorHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-gatehouse-error': error.code };
  const retry = error.details.retryAfterSeconds;
  if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry)));
  return headers;
}

/** Writes an error on a raw response; a response already streaming is cut instead (its status is gone). */
export function writeError(res: ServerResponse, error: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(error));
  res.writeHead(error.status, { ...errorHeaders(error), 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
