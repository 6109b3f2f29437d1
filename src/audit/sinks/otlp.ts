/**
 * OpenTelemetry logs over OTLP/HTTP (JSON), through the OpenTelemetry SDK: each event becomes a
 * log record made by @opentelemetry/sdk-logs and the batch is exported by
 * @opentelemetry/exporter-logs-otlp-http in one call, whose result decides whether the cursor
 * moves (the SDK's batch processor would drop records it could not send; here nothing is dropped).
 * The body is the event as JSON text; its id, writer, seq, hash and kind are also attributes.
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor, type ReadableLogRecord, type SdkLogRecord } from '@opentelemetry/sdk-logs';
import { describeError, SinkError, type AuditSink, type ExportRecord } from './types.ts';
import { severityOf } from './syslog-format.ts';

export interface OtlpSinkOptions {
  readonly name: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly timeoutMs: number;
}

/** Keeps what the logger emits, for the sink to export itself. */
class Collector implements LogRecordProcessor {
  records: SdkLogRecord[] = [];
  onEmit(record: SdkLogRecord): void {
    this.records.push(record);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export class OtlpSink implements AuditSink {
  readonly name: string;
  private readonly collector = new Collector();
  private readonly provider: LoggerProvider;
  private readonly exporter: OTLPLogExporter;

  constructor(private readonly options: OtlpSinkOptions) {
    this.name = options.name;
    this.provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      processors: [this.collector],
      // An event is sent whole: no attribute is cut.
      logRecordLimits: { attributeValueLengthLimit: Infinity },
    });
    this.exporter = new OTLPLogExporter({ url: options.url, headers: { ...options.headers }, timeoutMillis: options.timeoutMs, concurrencyLimit: 1 });
  }

  async send(records: readonly ExportRecord[], signal: AbortSignal): Promise<void> {
    const logger = this.provider.getLogger('gatehouse.audit');
    this.collector.records = [];
    for (const record of records) {
      const e = record.event;
      const severity = severityOf(record) === 4 ? SeverityNumber.WARN : SeverityNumber.INFO;
      logger.emit({
        timestamp: Date.parse(e.time),
        severityNumber: severity,
        severityText: severity === SeverityNumber.WARN ? 'WARN' : 'INFO',
        eventName: `gatehouse.audit.${e.kind}`,
        body: JSON.stringify(record.body),
        attributes: { 'gatehouse.event.id': e.id, 'gatehouse.writer': e.writer, 'gatehouse.seq': e.seq, 'gatehouse.hash': e.hash, 'gatehouse.kind': e.kind },
      });
    }
    const batch = this.collector.records as unknown as ReadableLogRecord[];
    this.collector.records = [];
    const result = await new Promise<{ code: number; error?: Error }>((resolve, reject) => {
      const abort = () => reject(new SinkError('the OTLP export timed out or was aborted'));
      signal.addEventListener('abort', abort, { once: true });
      this.exporter.export(batch, (r) => {
        signal.removeEventListener('abort', abort);
        resolve(r);
      });
    });
    // ExportResultCode.SUCCESS is 0.
    if (result.code !== 0) {
      const status = (result.error as { code?: unknown } | undefined)?.code;
      throw new SinkError(`the OTLP export failed: ${typeof status === 'number' ? `status ${status}` : describeError(result.error)}`, {
        ...(typeof status === 'number' ? { status, tooLarge: status === 413 } : {}),
      });
    }
  }

  async close(): Promise<void> {
    await this.exporter.shutdown().catch(() => undefined);
    await this.provider.shutdown().catch(() => undefined);
  }
}
