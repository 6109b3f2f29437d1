/**
 * Adversarial text for the built-in detectors: long runs of the characters their quantifiers
 * accept, and near-misses repeated (a value that almost matches, over and over), so that a
 * backtracking engine would have to retry every position over a long run.
 */
export interface Family {
  readonly name: string;
  /** Repeated to the requested size. */
  readonly unit: string;
  readonly head?: string;
  readonly tail?: string;
}

/** Tried on every detector. */
export const GENERIC_UNITS: readonly string[] = ['a', '0', ' ', 'aA0_'];

const f = (name: string, unit: string, extra: Partial<Family> = {}): Family => ({ name, unit, ...extra });

export const ADVERSARIAL_FAMILIES: Readonly<Record<string, readonly Family[]>> = {
  email: [f('local parts without a domain', 'a@'), f('one address, a domain of endless labels', 'a.', { head: 'x@' }), f('labels ending in a hyphen', 'a-.', { head: 'x@' }), f('at-dot pairs', '@a.')],
  phone: [f('plus and digits', '+1'), f('plus, digit, separator', '+1 '), f('digit groups', '1 '), f('area codes', '(415) 555-'), f('trunk prefixes', '0 12 '), f('French dots', '0.12'), f('international near-miss', '+44 20 7946 095 ')],
  credit_card: [f('a run of 4s', '4'), f('card groups', '4111 '), f('dashed groups', '4-4-'), f('Amex groups', '1234 123456 '), f('19 digits and a dot', '4111111111111111111.')],
  iban: [f('country and check digits', 'GB82'), f('spaced groups', 'GB82 WEST '), f('invalid country', 'AB12 '), f('upper-case run', 'ABCD')],
  us_ssn: [f('dashed near-miss', '123-45-'), f('spaced near-miss', '123 45 '), f('nine digits', '123456789 '), f('context word', 'ssn 1234')],
  ipv4: [f('dotted digits', '1.'), f('high octets', '255.255.'), f('three octets', '1.2.3.'), f('version context', 'v1.2.3.4 ')],
  ipv6: [f('colon runs', '1:'), f('hex groups', 'ab:'), f('double colons', '::'), f('eight groups', 'a:b:c:d:'), f('with IPv4 tail', '::ffff:1.2.3.')],
  person: [f('capitalised words', 'John '), f('titles', 'Dr. '), f('particles', 'van der ')],
  aws_access_key: [f('prefix run', 'AKIA'), f('upper-case run', 'AKIAAAAAAAAAAAAAAAAA'), f('almost a key', 'AKIAAAAAAAAAAAAAAAA ')],
  aws_secret_key: [f('context words', 'aws '), f('secret runs', 'secret'), f('context then base64', 'aws AAAAaaaa0000++++//')],
  github_token: [f('prefixes', 'ghp_'), f('prefix then run', 'a', { head: 'ghp_' }), f('fine-grained prefixes', 'github_pat_'), f('short tokens', ' ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')],
  gitlab_token: [f('prefixes', 'glpat-'), f('prefix then run', 'a-', { head: 'glpat-' })],
  slack_token: [f('prefixes', 'xoxb-'), f('prefix and digit', 'xoxb-1'), f('prefix then run', 'a-', { head: ' xoxb-' })],
  slack_webhook: [f('hook prefixes', 'https://hooks.slack.com/'), f('path run', 'a/', { head: 'https://hooks.slack.com/services/' })],
  stripe_key: [f('prefixes', 'sk_live_'), f('prefix then run', 'a', { head: ' sk_test_' })],
  openai_key: [f('prefixes', 'sk-'), f('project prefixes', 'sk-proj-'), f('prefix then run', 'a-', { head: ' sk-' }), f('ant prefixes', 'sk-ant-')],
  anthropic_key: [f('prefixes', 'sk-ant-'), f('prefix then run', 'a', { head: ' sk-ant-api03-' })],
  google_api_key: [f('prefixes', 'AIza'), f('prefix then run', 'z', { head: ' AIza' })],
  jwt: [f('headers', 'eyJ'), f('spaced headers', ' eyJ'), f('segments', 'eyJhbGciOi.'), f('near-miss tokens', ' eyJaaaaa.aa.'), f('one endless segment', 'a', { head: ' eyJhbGciOiJIUzI1NiJ9.' })],
  private_key: [f('headers', '-----BEGIN '), f('headers without END', '-----BEGIN A PRIVATE KEY-----'), f('header words', 'A ', { head: '-----BEGIN ' }), f('body without END', 'AAAA\n', { head: '-----BEGIN RSA PRIVATE KEY-----\n' })],
  database_url: [f('schemes', 'postgres://'), f('user and colon', 'postgres://a:'), f('password without host', 'b', { head: 'postgres://a:' }), f('colons', ':', { head: 'mysql://' })],
  password_assignment: [f('assignments', 'password='), f('spaced assignments', 'password: '), f('token then run', 'a', { head: 'token=' }), f('operators', ':=')],
  gatehouse_token: [f('prefixes', 'gth_'), f('prefix then run', 'a', { head: ' gts_' })],
  'dictionary (64 nested terms)': [f('term prefixes', 'a'.repeat(63) + '-'), f('near-miss terms', 'Bluebir '), f('spaced letters', 'a ')],
};
