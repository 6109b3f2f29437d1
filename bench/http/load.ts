/**
 * What the HTTP and audit benchmarks send: autocannon for load, and undici clients on one
 * keep-alive connection each for per-request latency and time to first streamed byte.
 */
import autocannon from 'autocannon';
import { Client } from 'undici';
import type { Target } from './targets.ts';

const MESSAGES = [
  { role: 'system', content: 'You are a support assistant. Answer briefly.' },
  {
    role: 'user',
    content:
      'Summarise this ticket: Jane Doe (jane.doe@example.com) reports that every invoice since March shows the wrong VAT rate; she asks for corrected copies and a refund of the difference.',
  },
];
/** A chat completion with an e-mail address and a name in it, so pii masking has work to do. */
export const CHAT_BODY = JSON.stringify({ model: 'demo', messages: MESSAGES });
export const STREAM_BODY = JSON.stringify({ model: 'demo', messages: MESSAGES, stream: true });

export interface LoadResult {
  readonly rps: number;
  /** Milliseconds, autocannon's 1 ms resolution. */
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  /** Non-2xx responses, errors and time-outs. */
  readonly failed: number;
  readonly seconds: number;
}

export interface LoadOptions {
  readonly connections: number;
  /** Run for this long … */
  readonly seconds?: number;
  /** … or until this many requests have been answered. */
  readonly amount?: number;
}

/** Chat completions through `target` at a fixed number of connections. */
export async function load(target: Target, options: LoadOptions): Promise<LoadResult> {
  const started = performance.now();
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    headers: { ...target.headers, 'content-type': 'application/json' },
    body: CHAT_BODY,
    connections: options.connections,
    pipelining: 1,
    timeout: 30,
    ...(options.amount ? { amount: options.amount } : { duration: options.seconds ?? 3 }),
  });
  // autocannon's own duration covers its whole run; with `amount` it is the wall time to the last answer.
  const seconds = options.amount ? (performance.now() - started) / 1000 : result.duration;
  return {
    rps: result['2xx'] / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    seconds,
  };
}

/**
 * `requests` requests per target, one at a time on one kept-alive connection per target, taking
 * the targets in turn request by request so that drift in the machine's load hits all alike.
 */
export async function sequential(targets: readonly Target[], requests: number, stream: boolean): Promise<Map<string, number[]>> {
  const clients = targets.map((t) => new Client(new URL(t.url).origin, { pipelining: 1, keepAliveTimeout: 30_000 }));
  const samples = new Map(targets.map((t) => [t.name, [] as number[]]));
  try {
    for (let i = 0; i < requests; i++) {
      for (const [at, target] of targets.entries()) {
        const url = new URL(target.url);
        const started = performance.now();
        const response = await clients[at]!.request({
          method: 'POST',
          path: url.pathname + url.search,
          headers: { ...target.headers, 'content-type': 'application/json' },
          body: stream ? STREAM_BODY : CHAT_BODY,
        });
        let first = 0;
        let text = '';
        for await (const chunk of response.body) {
          if (first === 0) first = performance.now();
          if (stream) text += chunk.toString();
        }
        const ended = performance.now();
        if (response.statusCode !== 200) throw new Error(`${target.name} answered ${response.statusCode}`);
        if (stream && !text.includes('data: [DONE]')) throw new Error(`${target.name} streamed no [DONE]: ${text.slice(0, 200)}`);
        samples.get(target.name)!.push((stream ? first : ended) - started);
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return samples;
}

/** One request of each kind through `target`; throws with what came back if it is not a proper answer. */
export async function check(target: Target): Promise<void> {
  for (const stream of [false, true]) {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { ...target.headers, 'content-type': 'application/json' },
      body: stream ? STREAM_BODY : CHAT_BODY,
    });
    const text = await response.text();
    const good = response.status === 200 && (stream ? text.includes('data: [DONE]') : text.includes('"chat.completion"'));
    if (!good) throw new Error(`${stream ? 'streamed' : 'plain'} chat completion answered ${response.status}: ${text.slice(0, 300)}`);
  }
}
