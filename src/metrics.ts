import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics for one gateway. Label values are connection names and codes, never identities or secrets. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_process_' });
  return {
    registry,
    requests: new Counter({
      name: 'gatehouse_requests_total',
      help: 'Requests handled, by connection, interaction kind, decision and outcome',
      labelNames: ['connection', 'kind', 'decision', 'outcome'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'gatehouse_request_duration_seconds',
      help: 'Time from receiving a request to finishing its response, by connection',
      labelNames: ['connection'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    unrecordedRefusals: new Counter({
      name: 'gatehouse_refusals_unrecorded_total',
      help: 'Refusals of callers without a valid credential beyond the per-minute recording budget: counted here, not stored',
      labelNames: ['protocol'] as const,
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'gatehouse_upstream_errors_total',
      help: 'Upstream failures (unreachable, timeout, aborted), by connection and error code',
      labelNames: ['connection', 'code'] as const,
      registers: [registry],
    }),
    /** Audit export (audit/outbox.ts): per sink. */
    auditSinks: {
      lag: new Gauge({ name: 'gatehouse_audit_sink_lag_events', help: 'Audit events not yet delivered to the sink, as of its last pass', labelNames: ['sink'] as const, registers: [registry] }),
      delivered: new Counter({ name: 'gatehouse_audit_sink_delivered_total', help: 'Audit events delivered to the sink (a re-delivery counts again)', labelNames: ['sink'] as const, registers: [registry] }),
      failures: new Counter({ name: 'gatehouse_audit_sink_failures_total', help: 'Failed deliveries of a batch to the sink', labelNames: ['sink'] as const, registers: [registry] }),
      lastSuccess: new Gauge({ name: 'gatehouse_audit_sink_last_success_timestamp_seconds', help: 'When the sink last took a batch (Unix time)', labelNames: ['sink'] as const, registers: [registry] }),
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
