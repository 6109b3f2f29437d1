/**
 * Every failure a client or operator can see has one code from this closed list.
 * Adapters render a GatewayError into their wire format (HTTP status + OpenAI-shaped
 * body, Postgres ErrorResponse, JSON-RPC error); tests assert on `code`, never on text.
 * docs/errors.md documents each code; test/errors.test.ts checks both directions.
 *
 * Each subclass below binds its code (jose's pattern): a class that owns one code takes none,
 * a family takes only its own (`AuthError` only `auth_*`), so a class whose name says one thing
 * and whose code says another does not compile.
 */
export const ERROR_CODES = {
  auth_missing: { status: 401, sqlstate: '28000' },
  auth_invalid: { status: 401, sqlstate: '28P01' },
  auth_expired: { status: 401, sqlstate: '28P01' },
  auth_revoked: { status: 401, sqlstate: '28P01' },
  auth_wrong_kind: { status: 401, sqlstate: '28P01' },
  // Refusals of an external token (an OIDC ID token, a CI job's workload token): identity/oidc/jwt-verifier.ts.
  auth_not_yet_valid: { status: 401, sqlstate: '28000' },
  auth_wrong_audience: { status: 401, sqlstate: '28000' },
  auth_unknown_issuer: { status: 401, sqlstate: '28000' },
  auth_bad_signature: { status: 401, sqlstate: '28000' },
  auth_alg_refused: { status: 401, sqlstate: '28000' },
  auth_unknown_key: { status: 401, sqlstate: '28000' },
  auth_claim_missing: { status: 401, sqlstate: '28000' },
  auth_conditions_unmet: { status: 401, sqlstate: '28000' },
  // Sign-in: an ID token posted a second time; a name another identity holds (identity/external-identities.ts).
  auth_replayed: { status: 401, sqlstate: '28000' },
  auth_identity_conflict: { status: 403, sqlstate: '28000' },
  auth_issuer_unavailable: { status: 503, sqlstate: '57P03' },
  saml_invalid: { status: 401, sqlstate: '28000' },
  saml_expired: { status: 401, sqlstate: '28000' },
  saml_replayed: { status: 401, sqlstate: '28000' },
  saml_unsolicited: { status: 401, sqlstate: '28000' },
  forbidden_connection: { status: 403, sqlstate: '42501' },
  forbidden_admin: { status: 403, sqlstate: '42501' },
  forbidden_role: { status: 403, sqlstate: '42501' },
  policy_denied: { status: 403, sqlstate: '42501' },
  approval_required: { status: 403, sqlstate: '42501' },
  approval_denied: { status: 403, sqlstate: '42501' },
  approval_expired: { status: 403, sqlstate: '42501' },
  approval_withdrawn: { status: 403, sqlstate: '57014' },
  // A session whose decisions relied on a just-in-time access grant, ended when the grant was revoked or expired.
  access_revoked: { status: 403, sqlstate: '42501' },
  access_expired: { status: 403, sqlstate: '42501' },
  limit_exceeded: { status: 429, sqlstate: '53300' },
  masking_failed: { status: 502, sqlstate: 'XX000' },
  unknown_connection: { status: 404, sqlstate: '3D000' },
  bad_request: { status: 400, sqlstate: '08P01' },
  body_too_large: { status: 413, sqlstate: '54000' },
  protocol_error: { status: 400, sqlstate: '08P01' },
  upstream_unreachable: { status: 502, sqlstate: '08006' },
  upstream_timeout: { status: 504, sqlstate: '57014' },
  // The gateway could not obtain its own credential for the upstream (an Entra ID token).
  upstream_credential: { status: 502, sqlstate: '08004' },
  not_found: { status: 404, sqlstate: '42704' },
  conflict: { status: 409, sqlstate: '42710' },
  invalid_argument: { status: 400, sqlstate: '22023' },
  config_invalid: { status: 500, sqlstate: 'F0000' },
  store_unavailable: { status: 503, sqlstate: '57P03' },
  gateway_stopping: { status: 503, sqlstate: '57P01' },
  internal: { status: 500, sqlstate: 'XX000' },
} as const satisfies Record<string, { status: number; sqlstate: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export type AuthCode = Extract<ErrorCode, `auth_${string}`>;
export type ForbiddenCode = Extract<ErrorCode, `forbidden_${string}`>;
export type UpstreamCode = Extract<ErrorCode, `upstream_${string}`>;
export type SamlCode = Extract<ErrorCode, `saml_${string}`>;
/** An approval that ended without letting the request run. */
export type ApprovalEndCode = 'approval_denied' | 'approval_expired' | 'approval_withdrawn';

/**
 * What an interaction records as its error code: a code a client was sent, or an outcome no client
 * hears about (docs/errors.md, "Recorded only"): nobody is left to answer, or, for `skipped`, the
 * protocol sends nothing for a statement the database passed over after an earlier one in its batch
 * failed. The target's own code (a SQLSTATE) is recorded apart, as the interaction's upstreamCode.
 */
export const RECORDED_ONLY_CODES = ['client_aborted', 'interrupted', 'skipped'] as const;
export type RecordedErrorCode = ErrorCode | (typeof RECORDED_ONLY_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export interface GatewayErrorOptions {
  readonly cause?: unknown;
  /** Extra facts safe to show the caller (never secrets). */
  readonly details?: Record<string, unknown>;
}

/**
 * The base every adapter renders. Its constructor is protected: throw the subclass that owns the
 * code, so a class can never be paired with another family's code.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Extra facts safe to show the caller (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  protected constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
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

// `declare readonly code` narrows the field's type without emitting a second field.

/** The credential is missing, unknown, expired, revoked or of the wrong kind. */
export class AuthError extends GatewayError {
  declare readonly code: AuthCode;
  constructor(code: AuthCode, message: string, options: GatewayErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A SAML sign-in was refused: the response is invalid, outside its validity window, replayed or unsolicited. */
export class SamlError extends GatewayError {
  declare readonly code: SamlCode;
  constructor(code: SamlCode, message: string, options: GatewayErrorOptions = {}) {
    super(code, message, options);
  }
}

/** The credential is valid but does not reach this connection or the admin API. */
export class ForbiddenError extends GatewayError {
  declare readonly code: ForbiddenCode;
  constructor(code: ForbiddenCode, message: string, options: GatewayErrorOptions = {}) {
    super(code, message, options);
  }
}

export class PolicyDenied extends GatewayError {
  declare readonly code: 'policy_denied';
  constructor(readonly rule: string, reason: string) {
    super('policy_denied', reason, { details: { rule } });
  }
}

/** What a held request's client is told about its approval. */
export interface ApprovalFacts {
  readonly id: string;
  readonly required: number;
  readonly expiresAt: number;
}

/**
 * The request waits for people: its approval is pending. The client asks an approver, then sends
 * the same request again, which runs once when approved.
 */
export class ApprovalPending extends GatewayError {
  declare readonly code: 'approval_required';
  constructor(readonly rule: string, approvers: readonly string[], approval?: ApprovalFacts) {
    const who = approvers.join(', ') || 'none named';
    super(
      'approval_required',
      approval
        ? `approval ${approval.id} is pending: rule "${rule}" needs ${approval.required} approval(s) from a member of ${who} ` +
            `before ${new Date(approval.expiresAt).toISOString()}; ask one to run \`gatehouse approvals approve ${approval.id}\`, ` +
            'then send the same request again (it runs once; a changed request needs its own approval)'
        : `approval required by rule "${rule}" (approvers: ${who}); the request was not sent`,
      {
        details: approval
          ? { rule, approvers: [...approvers], approvalId: approval.id, required: approval.required, expiresAt: approval.expiresAt, approve: `gatehouse approvals approve ${approval.id}` }
          : { rule, approvers: [...approvers] },
      },
    );
  }
}

const APPROVAL_ENDS: Record<ApprovalEndCode, string> = {
  approval_denied: 'was denied; the request was not sent and this approval can never run it. Read the reason with `gatehouse approvals show {id}`',
  approval_expired: 'expired before it was approved and used; the request was not sent. Send it again to ask anew',
  approval_withdrawn: 'was withdrawn (the client left or cancelled, the token that asked was revoked, or the rule changed); the request was not sent and this approval can never run it',
};

/** The approval a held request waited for ended without letting it run. */
export class ApprovalRefused extends GatewayError {
  declare readonly code: ApprovalEndCode;
  constructor(code: ApprovalEndCode, readonly rule: string, readonly approvalId: string) {
    super(code, `approval ${approvalId} (rule "${rule}") ${APPROVAL_ENDS[code].replace('{id}', approvalId)}`, {
      details: { rule, approvalId, show: `gatehouse approvals show ${approvalId}` },
    });
  }
}

/** A just-in-time access grant a session's decisions relied on was revoked or expired: the session ends. */
export class AccessEnded extends GatewayError {
  declare readonly code: 'access_revoked' | 'access_expired';
  constructor(code: 'access_revoked' | 'access_expired', grantId: string) {
    super(
      code,
      `the access grant ${grantId} this session relied on ${code === 'access_revoked' ? 'was revoked' : 'expired'}, so the session ended; ask again with: gatehouse access request`,
      { details: { grantId } },
    );
  }
}

export class LimitExceeded extends GatewayError {
  declare readonly code: 'limit_exceeded';
  constructor(readonly limit: string, message: string, readonly retryAfterSeconds?: number) {
    super('limit_exceeded', message, { details: { limit, ...(retryAfterSeconds ? { retryAfterSeconds } : {}) } });
  }
}

export class MaskingError extends GatewayError {
  declare readonly code: 'masking_failed';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('masking_failed', message, options);
  }
}

/** The connection a request names (path segment, Postgres database name) does not exist. */
export class UnknownConnection extends GatewayError {
  declare readonly code: 'unknown_connection';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('unknown_connection', message, options);
  }
}

/** The request could not be read (malformed JSON, a body the route needs is missing). */
export class BadRequest extends GatewayError {
  declare readonly code: 'bad_request';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('bad_request', message, options);
  }
}

export class BodyTooLarge extends GatewayError {
  declare readonly code: 'body_too_large';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('body_too_large', message, options);
  }
}

/** The client broke its wire protocol. */
export class ProtocolError extends GatewayError {
  declare readonly code: 'protocol_error';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('protocol_error', message, options);
  }
}

/** The target could not be reached or did not answer in time. */
export class UpstreamError extends GatewayError {
  declare readonly code: UpstreamCode;
  constructor(code: UpstreamCode, message: string, options: GatewayErrorOptions = {}) {
    super(code, message, options);
  }
}

/** An admin-API object (token, session, service account, connection) does not exist. */
export class NotFound extends GatewayError {
  declare readonly code: 'not_found';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('not_found', message, options);
  }
}

/** The object exists already, or belongs to the config file and cannot be changed through the API. */
export class Conflict extends GatewayError {
  declare readonly code: 'conflict';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('conflict', message, options);
  }
}

/** An argument (API field, CLI flag) is wrong; the message names it. */
export class InvalidArgument extends GatewayError {
  declare readonly code: 'invalid_argument';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('invalid_argument', message, options);
  }
}

export class ConfigError extends GatewayError {
  declare readonly code: 'config_invalid';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('config_invalid', message, options);
  }
}

export class StoreError extends GatewayError {
  declare readonly code: 'store_unavailable';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('store_unavailable', message, options);
  }
}

/** This replica is stopping (a deploy, a scale-down): the client should reconnect, through the load balancer, to another. */
export class GatewayStopping extends GatewayError {
  declare readonly code: 'gateway_stopping';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('gateway_stopping', message, options);
  }
}

/** A bug or an impossible state; the message must still hold no secret. */
export class InternalError extends GatewayError {
  declare readonly code: 'internal';
  constructor(message: string, options: GatewayErrorOptions = {}) {
    super('internal', message, options);
  }
}

/** Anything thrown that is not ours becomes `internal`, without leaking its message. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new InternalError('internal gateway error', { cause: err });
}
