import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway } from './support/gateway.ts';
import { countModuleLoads } from './support/module-loads.ts';

// Registered before any gateway starts: every later import of the parser is counted.
const parserLoads = countModuleLoads('libpg-query');

/**
 * Importing libpg-query instantiates its WASM module (about 128 MiB reserved). Both gateways run in
 * this one process, HTTP-only first, because a module once imported stays loaded.
 */
test('an HTTP-only gateway never loads the SQL parser; one with a Postgres listener does', async () => {
  const httpOnly = await startTestGateway();
  try {
    const response = await fetch(`${httpOnly.url}/proxy/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await httpOnly.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'hello' }] }),
    });
    assert.equal(response.status, 200);
  } finally {
    await httpOnly.close();
  }
  assert.equal(parserLoads(), 0, 'the HTTP-only gateway imported libpg-query');

  const withPostgres = await startTestGateway({ postgres: {} });
  try {
    assert.ok(withPostgres.pgPort > 0);
    assert.ok(parserLoads() > 0, 'the gateway with a Postgres listener did not import libpg-query');
  } finally {
    await withPostgres.close();
  }
});
