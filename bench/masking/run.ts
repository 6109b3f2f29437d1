/**
 * Masking throughput and streaming latency, each beside a baseline measured in the same run:
 *   node --import tsx bench/masking/run.ts [--seconds 2]
 * Throughput is bytes per second of this process's CPU time (single-threaded, so per core),
 * which stays meaningful on a busy machine; chunk latency is wall-clock. Bounded: about
 * 10 × the per-measurement time.
 */
import { loadavg } from 'node:os';
import { compileMaskingProfiles, createOpenAiSseMasker, DEFAULT_PROFILES } from '../../src/masking/index.ts';
import { compileLinearRegex } from '../../src/masking/linear-regex.ts';
import { chatBodies, resultRows, ROW_COLUMNS, sseChunks } from './workload.ts';

const LITERAL_PATTERN = 'EMP-\\d{6}';
const CLASS_PATTERN = '\\b[A-Z]{2,5}-\\d{4,8}\\b';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg === -1 ? 2 : Number(process.argv[secondsArg + 1]);

const profiles = compileMaskingProfiles(
  {
    profiles: {
      ...DEFAULT_PROFILES.profiles,
      customers: { entities: { secret: 'redact', pii: 'redact' }, columns: ['email', 'phone'], columnStyle: 'pseudonym' },
      // Custom patterns run on RE2 (re2js, linear time): one with a literal start, one without.
      literalPattern: { entities: {}, patterns: [{ name: 'employee_id', regex: LITERAL_PATTERN }] },
      classPattern: { entities: {}, patterns: [{ name: 'ticket', regex: CLASS_PATTERN }] },
    },
  },
  Buffer.alloc(32, 7),
);
const pii = profiles.get('pii')!;
const customers = profiles.get('customers')!;

/** Runs `pass` for about `seconds`; returns MB of `bytesPerPass` per CPU-second. */
function throughput(pass: () => void, bytesPerPass: number, seconds = SECONDS): number {
  const warmUntil = performance.now() + 200;
  while (performance.now() < warmUntil) pass();
  let passes = 0;
  const cpu = process.cpuUsage();
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    pass();
    passes++;
  }
  const used = process.cpuUsage(cpu);
  return (bytesPerPass * passes) / ((used.user + used.system) / 1e6) / 1e6;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Per-chunk latency in µs over repeated runs of the stream: [median, p99]. */
function chunkLatency(chunks: readonly Buffer[], makeStream: () => { push(c: Buffer): unknown; end(): unknown }, seconds = SECONDS): [number, number] {
  const samples: number[] = [];
  const until = performance.now() + seconds * 1000;
  let warm = true;
  while (performance.now() < until) {
    const stream = makeStream();
    for (const c of chunks) {
      const t0 = process.hrtime.bigint();
      stream.push(c);
      const t1 = process.hrtime.bigint();
      if (!warm) samples.push(Number(t1 - t0) / 1000);
    }
    stream.end();
    warm = false;
  }
  const sorted = Float64Array.from(samples).sort();
  return [percentile(sorted, 0.5), percentile(sorted, 0.99)];
}

const fmt = (n: number, digits = 1): string => n.toFixed(digits).padStart(8);
const lines: string[] = [];
const report = (line: string): void => {
  lines.push(line);
  process.stdout.write(line + '\n');
};

// --- prompts: chat JSON bodies of a few KB
const bodies = chatBodies(24);
const bodyBytes = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
const texts = bodies.map((b) => (JSON.parse(b) as { messages: { content: string }[] }).messages.map((m) => m.content).join('\n'));
const textBytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
report(`node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (MB/s are per CPU-second of this process)`);
report(`prompts: ${bodies.length} chat bodies, ${(bodyBytes / bodies.length / 1024).toFixed(1)} KB each on average`);

const baselineJson = throughput(() => {
  for (const b of bodies) JSON.stringify(JSON.parse(b));
}, bodyBytes);
const maskJsonText = throughput(() => {
  for (const b of bodies) pii.maskJsonText(b);
}, bodyBytes);
const maskText = throughput(() => {
  for (const t of texts) pii.maskText(t);
}, textBytes);
const detect = throughput(() => {
  for (const t of texts) profiles.detectEntities(t);
}, textBytes);
report(`  baseline JSON.parse+stringify      ${fmt(baselineJson)} MB/s`);
report(`  maskJsonText (profile pii)         ${fmt(maskJsonText)} MB/s   ${(maskJsonText / baselineJson).toFixed(2)}× baseline`);
report(`  maskText on message text           ${fmt(maskText)} MB/s   ${(maskText / baselineJson).toFixed(2)}× baseline`);
report(`  detectEntities (all detectors)     ${fmt(detect)} MB/s   ${(detect / baselineJson).toFixed(2)}× baseline`);

// --- custom patterns: RE2 (re2js) against the same pattern on V8's backtracking engine
const v8Scan = (re: RegExp) => () => {
  for (const t of texts) {
    re.lastIndex = 0;
    while (re.exec(t) !== null);
  }
};
const re2Scan = (source: string) => {
  const re = compileLinearRegex(source);
  return () => {
    for (const t of texts) {
      const m = re.matcher(t);
      while (m.find());
    }
  };
};
report(`custom patterns on the linear-time engine (RE2 via re2js), on the same message text`);
for (const [source, profile] of [[LITERAL_PATTERN, 'literalPattern'], [CLASS_PATTERN, 'classPattern']] as const) {
  const v8 = throughput(v8Scan(new RegExp(source, 'g')), textBytes);
  const re2 = throughput(re2Scan(source), textBytes);
  const masked = throughput(() => {
    for (const t of texts) profiles.get(profile)!.maskText(t);
  }, textBytes);
  report(`  ${source}`);
  report(`    baseline: V8 RegExp scan         ${fmt(v8)} MB/s`);
  report(`    RE2 (re2js) scan                 ${fmt(re2)} MB/s   ${(re2 / v8).toFixed(2)}× baseline`);
  report(`    maskText, this pattern only      ${fmt(masked)} MB/s   ${(masked / v8).toFixed(2)}× baseline`);
}

// --- result rows
const rows = resultRows(2000);
const rowBytes = rows.reduce((n, r) => n + r.reduce((m, v) => m + (v === null ? 0 : Buffer.byteLength(v)), 0), 0);
// Baseline: what the Postgres adapter does per row anyway, encode a DataRow message.
const baselineRows = throughput(() => {
  for (const r of rows) {
    const values = r.map((v) => (v === null ? null : Buffer.from(v, 'utf8')));
    const size = 6 + values.reduce((n, v) => n + 4 + (v?.length ?? 0), 0);
    const buf = Buffer.allocUnsafe(size + 1);
    buf[0] = 0x44;
    buf.writeInt32BE(size, 1);
    buf.writeInt16BE(values.length, 5);
    let at = 7;
    for (const v of values) {
      buf.writeInt32BE(v === null ? -1 : v.length, at);
      at += 4;
      if (v !== null) at += v.copy(buf, at);
    }
  }
}, rowBytes);
const maskRowsContent = throughput(() => {
  for (const r of rows) pii.maskRow(ROW_COLUMNS, r);
}, rowBytes);
const maskRowsNamed = throughput(() => {
  for (const r of rows) customers.maskRow(ROW_COLUMNS, r);
}, rowBytes);
report(`rows: ${rows.length} rows × ${ROW_COLUMNS.length} columns, ${(rowBytes / rows.length).toFixed(0)} bytes each`);
report(`  baseline DataRow encode            ${fmt(baselineRows)} MB/s`);
report(`  maskRow by content (pii)           ${fmt(maskRowsContent)} MB/s   ${(maskRowsContent / baselineRows).toFixed(2)}× baseline`);
report(`  maskRow + named columns            ${fmt(maskRowsNamed)} MB/s   ${(maskRowsNamed / baselineRows).toFixed(2)}× baseline`);

// --- SSE stream
const chunks = sseChunks(600);
const [baseMedian, baseP99] = chunkLatency(chunks, () => {
  const decoder = new TextDecoder();
  return { push: (c: Buffer) => decoder.decode(c, { stream: true }), end: () => decoder.decode() };
});
const [sseMedian, sseP99] = chunkLatency(chunks, () => createOpenAiSseMasker(pii));
report(`sse: ${chunks.length} chunks per chat completion stream`);
report(`  baseline decode per chunk          ${fmt(baseMedian, 2)} µs median ${fmt(baseP99, 2)} µs p99`);
report(`  createOpenAiSseMasker per chunk    ${fmt(sseMedian, 2)} µs median ${fmt(sseP99, 2)} µs p99   (+${(sseMedian - baseMedian).toFixed(2)} µs, ${(sseMedian / baseMedian).toFixed(1)}× baseline)`);

const ok = maskText >= 100 && sseP99 <= 1000;
report(`goals: ≥ 100 MB/s structured detectors on prompt text, ≤ 1 ms per chunk → ${ok ? 'met' : 'NOT met'}`);
