/**
 * Preloaded into the Portkey gateway (`node --import`): its start-server binds every interface
 * and has no host option (only --port), so this makes its listener bind 127.0.0.1 and prints the
 * port it really got, which lets the benchmark start it with --port=0.
 */
import { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const listen = Server.prototype.listen;
Server.prototype.listen = function (this: Server, ...args: unknown[]) {
  // @hono/node-server's serve() calls listen(port, hostname, callback), hostname undefined by default.
  if (typeof args[0] === 'number' && args[1] === undefined) args[1] = '127.0.0.1';
  this.once('listening', () => console.log(`portkey listening http://127.0.0.1:${(this.address() as AddressInfo).port}`));
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;
