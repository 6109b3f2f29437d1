import type { RuleConfig } from '../schema.ts';
import { celStringList } from './cel-snippets.ts';

/**
 * The masking engine adds the family type `secret` whenever a secret detector fires; the detector
 * types are listed as well so a summary built by another detector source is still caught.
 */
const SECRET_ENTITY_TYPES = [
  'secret',
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

export function secretsInPromptsRules(): RuleConfig[] {
  return [
    {
      name: 'secrets-in-prompts/secret-in-request',
      match: { interactions: ['llm.*', 'mcp.*', 'http.request'] },
      when: `request.entities.exists(e, e in ${celStringList(SECRET_ENTITY_TYPES)})`,
      action: 'deny',
      reason: 'the request contains a secret (an API key, token, private key or password); remove it and try again',
    },
  ];
}
