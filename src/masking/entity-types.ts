/**
 * The built-in entity vocabulary. Policy rules and findings use these names verbatim,
 * so they are part of the public contract: add, never rename.
 */
export const SECRET_TYPES = [
  'aws_access_key',
  'aws_secret_key',
  'github_token',
  'gitlab_token',
  'slack_token',
  'slack_webhook',
  'stripe_key',
  'openai_key',
  'anthropic_key',
  'google_api_key',
  'jwt',
  'private_key',
  'database_url',
  'password_assignment',
  'gatehouse_token',
] as const;

export const PII_TYPES = ['email', 'phone', 'credit_card', 'iban', 'us_ssn', 'ipv4', 'ipv6', 'person'] as const;

export type SecretType = (typeof SECRET_TYPES)[number];
export type PiiType = (typeof PII_TYPES)[number];
export type EntityType = SecretType | PiiType;
export type EntityFamily = 'secret' | 'pii';

export const ENTITY_TYPES: readonly EntityType[] = [...PII_TYPES, ...SECRET_TYPES];

/** Detectors that only run when a profile names them explicitly; a family name does not enable them. */
export const OPT_IN_TYPES: ReadonlySet<EntityType> = new Set<EntityType>(['person']);

const SECRET_SET: ReadonlySet<string> = new Set(SECRET_TYPES);
const PII_SET: ReadonlySet<string> = new Set(PII_TYPES);

export function isEntityType(name: string): name is EntityType {
  return SECRET_SET.has(name) || PII_SET.has(name);
}

export function familyOf(type: string): EntityFamily | null {
  if (SECRET_SET.has(type)) return 'secret';
  if (PII_SET.has(type)) return 'pii';
  return null;
}

/** Expands `secret` / `pii` to their members (without opt-in ones); a single type to itself. */
export function expandEntityName(name: string): readonly EntityType[] | null {
  if (name === 'secret') return SECRET_TYPES;
  if (name === 'pii') return PII_TYPES.filter((t) => !OPT_IN_TYPES.has(t));
  return isEntityType(name) ? [name] : null;
}
