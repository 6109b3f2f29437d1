/**
 * Every failure a client or operator can see has one code from this closed list.
 * Adapters render a GatewayError into their wire format (HTTP status + OpenAI-shaped
 * body, Postgres ErrorResponse, JSON-RPC error); tests assert on `code`, never on text.
 * docs/errors.md documents each code; test/errors.test.ts checks that it does.
 */
export const ERROR_CODES = {
  auth_missing: { status: 401, sqlstate: '28000' },
  auth_invalid: { status: 401, sqlstate: '28P01' },
  auth_expired: { status: 401, sqlstate: '28P01' },
  auth_revoked: { status: 401, sqlstate: '28P01' },
  auth_wrong_kind: { status: 401, sqlstate: '28P01' },
  forbidden_connection: { status: 403, sqlstate: '42501' },
  forbidden_admin: { status: 403, sqlstate: '42501' },
  policy_denied: { status: 403, sqlstate: '42501' },
  approval_required: { status: 403, sqlstate: '42501' },
  limit_exceeded: { status: 429, sqlstate: '53300' },
  masking_failed: { status: 502, sqlstate: 'XX000' },
  unknown_connection: { status: 404, sqlstate: '3D000' },
  bad_request: { status: 400, sqlstate: '08P01' },
  body_too_large: { status: 413, sqlstate: '54000' },
  protocol_error: { status: 400, sqlstate: '08P01' },
  upstream_unreachable: { status: 502, sqlstate: '08006' },
  upstream_timeout: { status: 504, sqlstate: '57014' },
  not_found: { status: 404, sqlstate: '42704' },
  conflict: { status: 409, sqlstate: '42710' },
  invalid_argument: { status: 400, sqlstate: '22023' },
  config_invalid: { status: 500, sqlstate: 'F0000' },
  store_unavailable: { status: 503, sqlstate: '57P03' },
  internal: { status: 500, sqlstate: 'XX000' },
} as const satisfies Record<string, { status: number; sqlstate: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Extra facts safe to show the caller (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get sqlstate(): string {
    return ERROR_CODES[this.code].sqlstate;
  }
}

export class AuthError extends GatewayError {}
export class ForbiddenError extends GatewayError {}

export class PolicyDenied extends GatewayError {
  constructor(readonly rule: string, reason: string) {
    super('policy_denied', reason, { details: { rule } });
  }
}

export class ApprovalPending extends GatewayError {
  constructor(readonly rule: string, approvers: readonly string[]) {
    super(
      'approval_required',
      `approval required by rule "${rule}" (approvers: ${approvers.join(', ') || 'none named'}); ` +
        'this gateway has no approval flow enabled yet, so the request was not sent',
      { details: { rule, approvers: [...approvers] } },
    );
  }
}

export class LimitExceeded extends GatewayError {
  constructor(readonly limit: string, message: string, readonly retryAfterSeconds?: number) {
    super('limit_exceeded', message, { details: { limit, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) } });
  }
}

export class ProtocolError extends GatewayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('protocol_error', message, options);
  }
}

export class UpstreamError extends GatewayError {}

export class ConfigError extends GatewayError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('config_invalid', message, options);
  }
}

export class MaskingError extends GatewayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('masking_failed', message, options);
  }
}

export class StoreError extends GatewayError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('store_unavailable', message, options);
  }
}

/** Anything thrown that is not ours becomes `internal`, without leaking its message. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal', 'internal gateway error', { cause: err });
}
