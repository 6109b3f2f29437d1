/**
 * The inference providers the gateway speaks natively, by connection type. The HTTP adapter asks
 * here once per request; a type without an entry is proxied as plain HTTP (or OpenAI).
 */
import type { ConnectionType } from '../interaction.ts';
import type { LlmProvider, ProviderType } from './types.ts';
import { anthropicProvider } from './anthropic.ts';
import { geminiProvider } from './gemini.ts';
import { azureOpenAiProvider } from './azure-openai.ts';
import { bedrockProvider } from './bedrock/provider.ts';

const PROVIDERS = new Map<ConnectionType, LlmProvider>();

/** Adds a provider: one line below per provider module. */
export function registerProvider(provider: LlmProvider): void {
  PROVIDERS.set(provider.type, provider);
}

registerProvider(anthropicProvider);
registerProvider(geminiProvider);
registerProvider(azureOpenAiProvider);
registerProvider(bedrockProvider);

/** The provider behind a connection type, or null for the types that are not inference providers. */
export function providerFor(type: ConnectionType): LlmProvider | null {
  return PROVIDERS.get(type) ?? null;
}

export function isProviderType(type: ConnectionType): type is ProviderType {
  return PROVIDERS.has(type);
}
