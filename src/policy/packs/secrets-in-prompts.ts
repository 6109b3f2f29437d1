import type { RuleConfig } from '../schema.ts';
import { celStringList } from './cel-snippets.ts';
import { SECRET_TYPES } from '../../masking/entity-types.ts';

/**
 * The masking engine adds the family type `secret` whenever a secret detector fires; the detector
 * types are listed as well so a summary built by another detector source is still caught.
 */
const SECRET_ENTITY_TYPES = ['secret', ...SECRET_TYPES];

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
