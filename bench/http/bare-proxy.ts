/**
 * The floor for any Node gateway: a pass-through proxy that forwards method, path, headers and
 * body over a keep-alive undici Pool and streams the response back, and does nothing else.
 *   node --import tsx bench/http/bare-proxy.ts <upstream origin>   (prints "bare proxy listening <url>")
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Pool, type Dispatcher } from 'undici';

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP.has(name)) out[name] = value;
  return out;
}

export interface BareProxy {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function startBareProxy(upstream: string, port = 0): Promise<BareProxy> {
  // The same pool settings as Gatehouse's upstream pools, so the two differ only in what they do per request.
  const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 30_000 });
  const server = createServer(async (req, res) => {
    try {
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
      const response = await pool.request({
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers: endToEnd(req.headers),
        body: hasBody ? req : null,
      });
      res.writeHead(response.statusCode, endToEnd(response.headers) as OutgoingHttpHeaders);
      await pipeline(response.body, res);
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await pool.destroy();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const upstream = process.argv[2];
  if (!upstream) throw new Error('usage: bare-proxy.ts <upstream origin>');
  const proxy = await startBareProxy(upstream);
  process.once('SIGTERM', () => void proxy.close().finally(() => process.exit(0)));
  console.log(`bare proxy listening ${proxy.url}`);
}
