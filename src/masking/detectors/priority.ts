/**
 * When two detectors claim overlapping text, the higher priority wins (then the longer
 * span). Specific, whole-value secrets beat the generic detectors that would see only a
 * fragment of them (an email inside a database URL, digits inside a JWT).
 */
export const PRIORITY = {
  private_key: 100,
  jwt: 90,
  slack_webhook: 88,
  database_url: 86,
  token: 80,
  aws_secret_key: 75,
  password_assignment: 70,
  custom_pattern: 60,
  dictionary: 55,
  credit_card: 50,
  iban: 48,
  us_ssn: 46,
  email: 44,
  phone: 40,
  ipv6: 36,
  ipv4: 34,
  person: 20,
} as const;
