/**
 * The upstream every benchmark target forwards to: the demo model, alone in its own process.
 *   node --import tsx bench/http/upstream.ts     (key from BENCH_UPSTREAM_KEY)
 * Prints "upstream listening <url>". Over IPC it answers 'answered' with how many 2xx responses
 * it has finished, so a benchmark can check that each request it sent reached the upstream once.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import { startDemoModel } from '../../src/demo/demo-model.ts';

let answered = 0;
subscribe('http.server.response.finish', (message) => {
  if ((message as { response: ServerResponse }).response.statusCode < 300) answered++;
});

const model = await startDemoModel({ port: 0, apiKey: process.env.BENCH_UPSTREAM_KEY, recordRequests: false });
process.on('message', (message) => {
  if (message === 'answered') process.send?.({ answered });
});
process.once('SIGTERM', () => void model.close().finally(() => process.exit(0)));
console.log(`upstream listening ${model.url}`);
