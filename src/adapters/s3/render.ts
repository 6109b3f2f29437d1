/**
 * A GatewayError as S3 clients read one: an XML <Error> whose Code the SDKs turn into the
 * exception's name, with the gateway's own code beside it (GatehouseCode, and x-gatehouse-error).
 */
import type { ServerResponse } from 'node:http';
import type { ErrorCode, GatewayError } from '../../errors.ts';

const S3_CODE: Partial<Record<ErrorCode, string>> = {
  auth_missing: 'AccessDenied',
  auth_invalid: 'SignatureDoesNotMatch',
  auth_expired: 'ExpiredToken',
  auth_revoked: 'InvalidAccessKeyId',
  auth_wrong_kind: 'InvalidAccessKeyId',
  forbidden_connection: 'AccessDenied',
  policy_denied: 'AccessDenied',
  approval_required: 'AccessDenied',
  approval_denied: 'AccessDenied',
  approval_expired: 'AccessDenied',
  approval_withdrawn: 'AccessDenied',
  limit_exceeded: 'SlowDown',
  bad_request: 'InvalidRequest',
  masking_failed: 'InvalidRequest',
  unknown_connection: 'NoSuchBucket',
  upstream_unreachable: 'ServiceUnavailable',
  upstream_timeout: 'ServiceUnavailable',
};

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function writeS3Error(res: ServerResponse, error: GatewayError, requestId: string): void {
  // Cut already (a revoked credential, a client gone): nobody reads an answer.
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const details = Object.entries(error.details)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
    .map(([k, v]) => `<Gatehouse${k[0]!.toUpperCase()}${k.slice(1).replace(/[^A-Za-z0-9]/g, '')}>${escapeXml(String(v))}</Gatehouse${k[0]!.toUpperCase()}${k.slice(1).replace(/[^A-Za-z0-9]/g, '')}>`)
    .join('');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${S3_CODE[error.code] ?? 'InternalError'}</Code><Message>${escapeXml(error.message)}</Message>` +
    `<GatehouseCode>${error.code}</GatehouseCode>${details}<RequestId>${requestId}</RequestId></Error>`;
  const headers: Record<string, string | number> = {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-gatehouse-error': error.code,
    'x-amz-request-id': requestId,
  };
  const retry = error.details.retryAfterSeconds;
  if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry)));
  // A body the client is still sending is not read: the connection cannot be reused.
  headers.connection = 'close';
  res.writeHead(error.status, headers);
  res.end(body);
}
