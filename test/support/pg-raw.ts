/**
 * A bare PostgreSQL protocol client for tests that need what drivers do not send: pipelines of
 * their own, messages out of turn, CancelRequests with chosen keys. Every answer is kept in order.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { parse, serialize } from 'pg-protocol';

export interface RawMessage {
  name: string;
  [field: string]: any;
}

/** Startup as `agent` on `database`, the cleartext password (the token), then whatever the test writes. */
export async function rawSession(port: number, token: string, database: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const seen: RawMessage[] = [];
  let wake = () => {};
  void parse(socket, (m: any) => {
    seen.push(m);
    if (m.name === 'authenticationCleartextPassword') socket.write(serialize.password(token));
    wake();
  });
  let read = 0;
  const until = async (name: string): Promise<RawMessage> => {
    for (;;) {
      while (read < seen.length) {
        const m = seen[read++]!;
        if (m.name === name) return m;
      }
      await new Promise<void>((r) => (wake = r));
    }
  };
  /** Waits until every one of `names` has arrived since `from`, in whatever order; returns the first of each. */
  const all = async (from: number, ...names: string[]): Promise<RawMessage[]> => {
    for (;;) {
      const found = names.map((name) => seen.slice(from).find((m) => m.name === name));
      if (found.every((m) => m !== undefined)) return found as RawMessage[];
      await new Promise<void>((r) => (wake = r));
    }
  };
  socket.write(serialize.startup({ user: 'agent', database }));
  await until('readyForQuery');
  return { seen, until, all, send: (b: Buffer) => socket.write(b), close: () => socket.destroy() };
}

/** A CancelRequest on a new connection, as libpq sends one. */
export async function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(serialize.cancel(processId, secretKey));
  await once(socket, 'close');
}
