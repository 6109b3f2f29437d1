/**
 * Realistic inputs for the masking benchmark: chat-completion request bodies of a few KB
 * (prose, code, a log excerpt, now and then a value to mask), Postgres result rows, and an
 * OpenAI SSE stream cut into the chunks an upstream sends. Deterministic (seeded).
 */

const PROSE = [
  'The nightly export job failed again after the schema migration on the orders table.',
  'Can you summarise the incident timeline and suggest what we should change in the runbook?',
  'Our churn in the enterprise segment went up by two points this quarter, mostly in EMEA.',
  'The customer says the invoice total does not match the usage report for March.',
  'Please rewrite this paragraph so it sounds less defensive and more like a plan.',
  'We rolled back the deployment at 14:20 and the error rate returned to normal within minutes.',
  'The retry policy uses exponential backoff with jitter, capped at thirty seconds.',
  'Draft a short reply that apologises for the delay and promises an update by Friday.',
  'Latency at the 99th percentile doubled when the cache hit ratio dropped below 80%.',
  'I think the root cause is a missing index on the customer_id column of the events table.',
  'Translate the release notes into plain language for the sales team.',
  'Which of these three vendors has the better data processing agreement for GDPR?',
  'The contract renews automatically unless either party gives ninety days notice.',
  'List the open questions from the design review and who owns each of them.',
];

const CODE = [
  'SELECT customer_id, count(*) AS orders, sum(total) FROM orders WHERE created_at > now() - interval \'30 days\' GROUP BY 1 ORDER BY 3 DESC LIMIT 20;',
  'async function retry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {\n  for (let i = 0; ; i++) {\n    try { return await fn(); } catch (err) { if (i >= attempts) throw err; await sleep(2 ** i * 100); }\n  }\n}',
  'def handler(event, context):\n    records = [json.loads(r["body"]) for r in event["Records"]]\n    return {"statusCode": 200, "processed": len(records)}',
  'kubectl -n payments rollout undo deployment/api --to-revision=41 && kubectl -n payments get pods -w',
];

const LOG = [
  '2024-05-14T09:12:33.481Z ERROR [worker] job=export-orders attempt=3 error="deadlock detected" duration_ms=30211',
  '2024-05-14T09:12:35.002Z WARN  [api] route=/v1/invoices status=503 upstream=billing latency_ms=4870',
  '2024-05-14T09:12:36.117Z INFO  [api] route=/v1/health status=200 latency_ms=3 trace=4bf92f3577b34da6a3ce929d0e0e4736',
];

const SENSITIVE = [
  'You can reach me at maria.garcia@example.com or +44 20 7946 0958.',
  'The test card 4242 4242 4242 4242 was charged twice.',
  'Here is the key that leaked: AKIAIOSFODNN7EXAMPLE',
  'Connection string postgres://app:Xk9mP2vL7q@db.internal:5432/app fails.',
  'The request came from 203.0.113.42 just before the outage.',
];

let seed = 42;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

function paragraph(sentences: number): string {
  return Array.from({ length: sentences }, () => pick(PROSE)).join(' ');
}

function userMessage(): string {
  const parts = [paragraph(3 + Math.floor(rnd() * 4))];
  if (rnd() < 0.5) parts.push('```\n' + pick(CODE) + '\n```');
  if (rnd() < 0.4) parts.push(LOG.join('\n'));
  if (rnd() < 0.3) parts.push(pick(SENSITIVE));
  parts.push(paragraph(2));
  return parts.join('\n\n');
}

/** Chat completion request bodies of about 3–6 KB each. */
export function chatBodies(count: number): string[] {
  seed = 42;
  return Array.from({ length: count }, () => {
    const messages: { role: string; content: string }[] = [
      { role: 'system', content: 'You are a careful assistant for the operations team. ' + paragraph(3) },
    ];
    for (let turn = 0; turn < 3; turn++) {
      messages.push({ role: 'user', content: userMessage() });
      messages.push({ role: 'assistant', content: paragraph(4 + Math.floor(rnd() * 4)) });
    }
    messages.push({ role: 'user', content: userMessage() });
    return JSON.stringify({ model: 'gpt-4o-mini', temperature: 0.2, stream: true, messages });
  });
}

export const ROW_COLUMNS = ['id', 'name', 'email', 'phone', 'status', 'plan', 'created_at', 'notes'] as const;

/** Customer-table rows as Postgres text-format values. */
export function resultRows(count: number): (string | null)[][] {
  seed = 7;
  return Array.from({ length: count }, (_, i) => [
    String(100000 + i),
    pick(['Maria Garcia', 'Wei Chen', 'John Smith', 'Priya Patel']),
    `${pick(['maria', 'wei', 'john', 'priya'])}.${i}@example.com`,
    rnd() < 0.7 ? `+1-202-555-${String(1000 + (i % 9000)).padStart(4, '0')}` : null,
    pick(['active', 'trial', 'churned']),
    pick(['starter', 'team', 'enterprise']),
    `2024-0${1 + (i % 9)}-1${i % 10} 08:15:0${i % 10}+00`,
    rnd() < 0.5 ? pick(PROSE) : null,
  ]);
}

/** An OpenAI chat completion stream, cut into the chunks (one or two events, sometimes split) an upstream sends. */
export function sseChunks(tokens: number): Buffer[] {
  seed = 99;
  const words = (paragraph(40) + ' ' + pick(SENSITIVE) + ' ' + paragraph(40)).split(/(?<= )/);
  const events: string[] = [];
  const envelope = { id: 'chatcmpl-9abc', object: 'chat.completion.chunk', created: 1715678000, model: 'gpt-4o-mini', system_fingerprint: 'fp_1234' };
  events.push(`data: ${JSON.stringify({ ...envelope, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
  for (let i = 0; i < tokens; i++) {
    const content = words[i % words.length]!;
    events.push(`data: ${JSON.stringify({ ...envelope, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`);
  }
  events.push(`data: ${JSON.stringify({ ...envelope, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
  events.push('data: [DONE]\n\n');
  const chunks: Buffer[] = [];
  let carry = '';
  for (const e of events) {
    const r = rnd();
    if (r < 0.1) {
      carry += e; // two events in one chunk
      continue;
    }
    const text = carry + e;
    carry = '';
    if (r < 0.2) {
      const cut = 1 + Math.floor(rnd() * (text.length - 1));
      chunks.push(Buffer.from(text.slice(0, cut)), Buffer.from(text.slice(cut)));
    } else {
      chunks.push(Buffer.from(text));
    }
  }
  if (carry) chunks.push(Buffer.from(carry));
  return chunks;
}
