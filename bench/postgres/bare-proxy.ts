/**
 * The floor for any Node gateway on the Postgres wire: a TCP pass-through that pipes each client
 * connection to its own upstream connection and reads nothing. Gatehouse's figures are judged
 * against it as well as against PgBouncer (C, event loop of its own).
 *   node --import tsx bench/postgres/bare-proxy.ts <upstream port>   (prints "bare proxy listening <port>")
 */
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface BareTcpProxy {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBareTcpProxy(upstreamPort: number): Promise<BareTcpProxy> {
  const server: Server = createServer({ noDelay: true }, (client) => {
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const proxy = await startBareTcpProxy(Number(process.argv[2]));
  console.log(`bare proxy listening ${proxy.port}`);
}
