/**
 * The floor for any Node gateway: a pass-through proxy that forwards method, path, headers and
 * body over a keep-alive undici Pool and streams the response back, and does nothing else.
 *   node bench/http/bare-proxy.js <upstream origin>   (prints "bare proxy listening <url>")
 * Plain JavaScript, so that it runs on bare Node like the compiled gateway, without a TypeScript
 * loader whose thread would add its own memory to the figures.
 */
import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** @param {import('node:http').IncomingHttpHeaders} headers */
function endToEnd(headers) {
  /** @type {Record<string, string | string[]>} */
  const out = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP.has(name)) out[name] = value;
  return out;
}

const upstream = process.argv[2];
if (!upstream) throw new Error('usage: bare-proxy.js <upstream origin>');

// The same pool settings as Gatehouse's upstream pools, so the two differ only in what they do per request.
const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 30_000 });
const server = createServer(async (req, res) => {
  try {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const response = await pool.request({
      method: /** @type {import('undici').Dispatcher.HttpMethod} */ (req.method),
      path: req.url ?? '/',
      headers: endToEnd(req.headers),
      body: hasBody ? req : null,
    });
    res.writeHead(response.statusCode, endToEnd(response.headers));
    await pipeline(response.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  console.log(`bare proxy listening http://127.0.0.1:${port}`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => void pool.destroy().finally(() => process.exit(0)));
});
