import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway } from './support/gateway.ts';

const MiB = 2 ** 20;

/**
 * Importing libpg-query instantiates its WASM module, whose memory (about 128 MiB reserved) shows
 * as external memory. Both gateways run in this one process, HTTP-only first, because a module
 * once imported stays loaded.
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
  const withoutParser = process.memoryUsage().external;

  const withPostgres = await startTestGateway({ postgres: {} });
  try {
    assert.ok(withPostgres.pgPort > 0);
    const withParser = process.memoryUsage().external;
    assert.ok(
      withParser - withoutParser > 32 * MiB,
      `external memory ${(withoutParser / MiB).toFixed(0)} MiB without the listener, ${(withParser / MiB).toFixed(0)} MiB with it`,
    );
  } finally {
    await withPostgres.close();
  }
});
