/** Provider connections in gatehouse.yaml: which credentials each type takes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';

const load = (connection: string) => () => parseConfig(`connections:\n${connection}`, 'test.yaml', {});

describe('provider connection config', () => {
  it('takes an API key for anthropic, gemini and azure-openai, and an entra app for azure-openai', () => {
    for (const type of ['anthropic', 'gemini', 'azure-openai']) {
      const config = load(`  - name: p\n    type: ${type}\n    upstream: https://example.com\n    credential: key-value\n`)();
      assert.deepEqual(config.connections[0]?.credential, { type: 'bearer', value: 'key-value' });
    }
    const config = load('  - name: az\n    type: azure-openai\n    upstream: https://r.openai.azure.com\n    credential:\n      type: entra\n      tenant: contoso.onmicrosoft.com\n      clientId: app\n      clientSecret: s\n')();
    assert.equal(config.connections[0]?.credential?.type === 'entra' && config.connections[0].credential.scope, 'https://cognitiveservices.azure.com/.default');
  });

  it('refuses a basic credential, an entra credential outside azure-openai, and a token URL that is not http(s)', () => {
    assert.throws(load('  - name: p\n    type: anthropic\n    upstream: https://example.com\n    credential: { type: basic, username: u, value: p }\n'), /API key/);
    assert.throws(load('  - name: p\n    type: gemini\n    upstream: https://example.com\n    credential: { type: entra, tenant: t, clientId: c, clientSecret: s }\n'), /azure-openai connections only/);
    assert.throws(load('  - name: p\n    type: azure-openai\n    upstream: https://example.com\n    credential: { type: entra, tenant: t, clientId: c, clientSecret: s, tokenUrl: "file:///etc/passwd" }\n'));
    assert.throws(load('  - name: p\n    type: azure-openai\n    upstream: https://example.com\n    credential: { type: entra, tenant: "t/../x", clientId: c, clientSecret: s }\n'));
  });
});
