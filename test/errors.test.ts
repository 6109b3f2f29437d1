import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  ApprovalPending,
  ApprovalRefused,
  AccessEnded,
  AuthError,
  BadRequest,
  BodyTooLarge,
  ConfigError,
  Conflict,
  ERROR_CODES,
  ForbiddenError,
  GatewayError,
  GatewayStopping,
  InternalError,
  InvalidArgument,
  isErrorCode,
  LimitExceeded,
  MaskingError,
  NotFound,
  PolicyDenied,
  ProtocolError,
  RECORDED_ONLY_CODES,
  SamlError,
  StoreError,
  toGatewayError,
  UnknownConnection,
  UpstreamError,
  type ErrorCode,
  type RecordedErrorCode,
} from '../src/errors.ts';

interface DocRow {
  readonly code: string;
  readonly cells: readonly string[];
}

/** Rows of every Markdown table whose first cell is a backticked code, by section heading. */
async function documentedRows(): Promise<{ text: string; sections: Map<string, DocRow[]> }> {
  const text = await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const sections = new Map<string, DocRow[]>();
  let heading = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) heading = line.replace(/^#+\s*/, '');
    const match = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!match) continue;
    const cells = match[2]!.split('|').map((cell) => cell.trim());
    sections.set(heading, [...(sections.get(heading) ?? []), { code: match[1]!, cells }]);
  }
  return { text, sections };
}

function codesOf(rows: readonly DocRow[]): string[] {
  return rows.map((row) => row.code).sort();
}

test('docs/errors.md lists exactly the codes in ERROR_CODES, each once, with its HTTP status and SQLSTATE', async () => {
  const { sections } = await documentedRows();
  const rows = sections.get('Error codes') ?? [];
  const documented = codesOf(rows);
  assert.deepEqual(documented, [...new Set(documented)], 'a code is documented twice');
  const missing = Object.keys(ERROR_CODES).filter((code) => !documented.includes(code));
  const unknown = documented.filter((code) => !isErrorCode(code));
  assert.deepEqual(missing, [], 'codes with no row in docs/errors.md');
  assert.deepEqual(unknown, [], 'docs/errors.md names codes that do not exist');
  for (const { code, cells } of rows) {
    const { status, sqlstate } = ERROR_CODES[code as ErrorCode];
    const [docStatus, docSqlstate, what, todo] = cells;
    assert.equal(cells.length, 4, `row for ${code} has the columns code, HTTP, SQLSTATE, what happened, what you can do`);
    assert.equal(docStatus, String(status), `HTTP status of ${code}`);
    assert.equal(docSqlstate, sqlstate, `SQLSTATE of ${code}`);
    assert.ok(what && todo, `row for ${code} says what happened and what the user can do`);
  }
});

test('docs/errors.md lists exactly the recorded-only codes, and no code is both sent and recorded-only', async () => {
  const { sections } = await documentedRows();
  assert.deepEqual([...sections.keys()].filter((heading) => (sections.get(heading) ?? []).length > 0).sort(), ['Error codes', 'Recorded only']);
  const rows = sections.get('Recorded only') ?? [];
  assert.deepEqual(codesOf(rows), [...RECORDED_ONLY_CODES].sort());
  for (const { code, cells } of rows) {
    assert.equal(isErrorCode(code), false, `${code} is recorded only, so it must not also be a code clients are sent`);
    assert.ok(cells.length === 2 && cells.every(Boolean), `row for ${code} says what happened and what the user can do`);
  }
});

test('docs/errors.md keeps its promise of an x-request-id header on every HTTP response', async () => {
  const { text } = await documentedRows();
  assert.match(text, /Every response of the HTTP listener[^.]*carries an `x-request-id` header/);
});

// One way to build each code, each through the class that owns it. A Record over ErrorCode means a
// new code that is not added here fails to compile.
const OWNER: Record<ErrorCode, { readonly make: () => GatewayError; readonly type: Function }> = {
  auth_missing: { make: () => new AuthError('auth_missing', 'm'), type: AuthError },
  auth_invalid: { make: () => new AuthError('auth_invalid', 'm'), type: AuthError },
  auth_expired: { make: () => new AuthError('auth_expired', 'm'), type: AuthError },
  auth_revoked: { make: () => new AuthError('auth_revoked', 'm'), type: AuthError },
  auth_wrong_kind: { make: () => new AuthError('auth_wrong_kind', 'm'), type: AuthError },
  auth_not_yet_valid: { make: () => new AuthError('auth_not_yet_valid', 'm'), type: AuthError },
  auth_wrong_audience: { make: () => new AuthError('auth_wrong_audience', 'm'), type: AuthError },
  auth_unknown_issuer: { make: () => new AuthError('auth_unknown_issuer', 'm'), type: AuthError },
  auth_bad_signature: { make: () => new AuthError('auth_bad_signature', 'm'), type: AuthError },
  auth_alg_refused: { make: () => new AuthError('auth_alg_refused', 'm'), type: AuthError },
  auth_unknown_key: { make: () => new AuthError('auth_unknown_key', 'm'), type: AuthError },
  auth_claim_missing: { make: () => new AuthError('auth_claim_missing', 'm'), type: AuthError },
  auth_conditions_unmet: { make: () => new AuthError('auth_conditions_unmet', 'm'), type: AuthError },
  auth_issuer_unavailable: { make: () => new AuthError('auth_issuer_unavailable', 'm'), type: AuthError },
  auth_replayed: { make: () => new AuthError('auth_replayed', 'm'), type: AuthError },
  auth_identity_conflict: { make: () => new AuthError('auth_identity_conflict', 'm'), type: AuthError },
  saml_invalid: { make: () => new SamlError('saml_invalid', 'm'), type: SamlError },
  saml_expired: { make: () => new SamlError('saml_expired', 'm'), type: SamlError },
  saml_replayed: { make: () => new SamlError('saml_replayed', 'm'), type: SamlError },
  saml_unsolicited: { make: () => new SamlError('saml_unsolicited', 'm'), type: SamlError },
  forbidden_connection: { make: () => new ForbiddenError('forbidden_connection', 'm'), type: ForbiddenError },
  forbidden_admin: { make: () => new ForbiddenError('forbidden_admin', 'm'), type: ForbiddenError },
  forbidden_role: { make: () => new ForbiddenError('forbidden_role', 'm'), type: ForbiddenError },
  policy_denied: { make: () => new PolicyDenied('no-drops', 'dropping tables is not allowed'), type: PolicyDenied },
  approval_required: { make: () => new ApprovalPending('prod-writes', ['dba']), type: ApprovalPending },
  approval_denied: { make: () => new ApprovalRefused('approval_denied', 'prod-writes', 'apr_1'), type: ApprovalRefused },
  approval_expired: { make: () => new ApprovalRefused('approval_expired', 'prod-writes', 'apr_1'), type: ApprovalRefused },
  approval_withdrawn: { make: () => new ApprovalRefused('approval_withdrawn', 'prod-writes', 'apr_1'), type: ApprovalRefused },
  access_revoked: { make: () => new AccessEnded('access_revoked', 'grt_1'), type: AccessEnded },
  access_expired: { make: () => new AccessEnded('access_expired', 'grt_1'), type: AccessEnded },
  limit_exceeded: { make: () => new LimitExceeded('requests_per_minute', 'm', 3), type: LimitExceeded },
  masking_failed: { make: () => new MaskingError('m'), type: MaskingError },
  unknown_connection: { make: () => new UnknownConnection('m'), type: UnknownConnection },
  bad_request: { make: () => new BadRequest('m'), type: BadRequest },
  body_too_large: { make: () => new BodyTooLarge('m'), type: BodyTooLarge },
  protocol_error: { make: () => new ProtocolError('m'), type: ProtocolError },
  upstream_unreachable: { make: () => new UpstreamError('upstream_unreachable', 'm'), type: UpstreamError },
  upstream_timeout: { make: () => new UpstreamError('upstream_timeout', 'm'), type: UpstreamError },
  upstream_credential: { make: () => new UpstreamError('upstream_credential', 'm'), type: UpstreamError },
  not_found: { make: () => new NotFound('m'), type: NotFound },
  conflict: { make: () => new Conflict('m'), type: Conflict },
  invalid_argument: { make: () => new InvalidArgument('m'), type: InvalidArgument },
  config_invalid: { make: () => new ConfigError('m'), type: ConfigError },
  store_unavailable: { make: () => new StoreError('m'), type: StoreError },
  gateway_stopping: { make: () => new GatewayStopping('m'), type: GatewayStopping },
  internal: { make: () => new InternalError('m'), type: InternalError },
};

test('every code has a subclass that owns it; the error carries that code, its status and SQLSTATE', () => {
  for (const [code, { make, type }] of Object.entries(OWNER)) {
    const error = make();
    assert.ok(error instanceof type, `${code} is built by ${type.name}`);
    assert.ok(error instanceof GatewayError && error instanceof Error);
    assert.notEqual(Object.getPrototypeOf(error), GatewayError.prototype, `${code} has a class of its own, not the bare base`);
    assert.equal(error.code, code);
    assert.equal(error.name, type.name);
    assert.equal(error.status, ERROR_CODES[code as ErrorCode].status);
    assert.equal(error.sqlstate, ERROR_CODES[code as ErrorCode].sqlstate);
  }
});

test('the classes that decide carry what the adapters render as details', () => {
  assert.deepEqual(new PolicyDenied('no-drops', 'r').details, { rule: 'no-drops' });
  assert.deepEqual(new ApprovalPending('prod-writes', ['dba', 'lead']).details, { rule: 'prod-writes', approvers: ['dba', 'lead'] });
  assert.deepEqual(new LimitExceeded('rpm', 'm', 7).details, { limit: 'rpm', retryAfterSeconds: 7 });
  assert.deepEqual(new LimitExceeded('sessions', 'm').details, { limit: 'sessions' });
});

test('the cause is kept and details are frozen', () => {
  const cause = new Error('ECONNREFUSED 10.0.0.5:5432');
  const error = new StoreError('postgres store unavailable', { cause, details: { engine: 'postgres' } });
  assert.equal(error.cause, cause);
  assert.ok(Object.isFrozen(error.details));
  assert.equal('cause' in new ConfigError('m'), false, 'no cause property when none was given');
});

test('toGatewayError passes ours through and turns anything else into internal without its message', () => {
  const ours = new NotFound('no session "s1"');
  assert.equal(toGatewayError(ours), ours);
  const secret = new Error('password=hunter2');
  const wrapped = toGatewayError(secret);
  assert.ok(wrapped instanceof InternalError);
  assert.equal(wrapped.code, 'internal');
  assert.equal(wrapped.cause, secret);
  assert.doesNotMatch(wrapped.message, /hunter2/);
  assert.equal(toGatewayError('a string').code, 'internal');
});

test('isErrorCode accepts exactly the listed codes', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.equal(isErrorCode(code), true);
  for (const value of ['client_aborted', 'toString', '__proto__', '', undefined, 42]) assert.equal(isErrorCode(value), false);
});

// Not run: `tsc --noEmit` (the first step of `npm test`) fails if any of these lines compiles, because
// each @ts-expect-error then has no error to expect. That is the check that classes bind their codes.
export function wrongPairingsDoNotCompile(): void {
  // @ts-expect-error a class whose name says auth takes only auth_* codes
  void new AuthError('forbidden_admin', 'm');
  // @ts-expect-error the upstream class takes only upstream_* codes
  void new UpstreamError('config_invalid', 'm');
  // @ts-expect-error forbidden_* only
  void new ForbiddenError('auth_invalid', 'm');
  // @ts-expect-error a class that owns one code takes no code at all
  void new ConfigError('config_invalid', 'm');
  // @ts-expect-error the base is not thrown directly: its subclasses own the codes
  void new GatewayError('no_such_code', 'm');
  type ExternalTokenCode = 'auth_not_yet_valid' | 'auth_wrong_audience' | 'auth_unknown_issuer' | 'auth_bad_signature' | 'auth_alg_refused' | 'auth_unknown_key' | 'auth_claim_missing' | 'auth_conditions_unmet' | 'auth_issuer_unavailable' | 'auth_replayed' | 'auth_identity_conflict';
  const narrowed: 'auth_missing' | 'auth_invalid' | 'auth_expired' | 'auth_revoked' | 'auth_wrong_kind' | ExternalTokenCode = new AuthError('auth_missing', 'm').code;
  const recorded: RecordedErrorCode[] = ['client_aborted', 'interrupted', 'policy_denied', narrowed];
  // @ts-expect-error the recorded code is typed: free strings are refused
  recorded.push('aborted');
}
