/**
 * HTTPS POST of each batch. Format `gatehouse`: a JSON array of events, signed with HMAC-SHA256
 * over `timestamp.body` (the scheme of approval notifications), so a receiver checks origin and
 * freshness. Format `splunk-hec`: Splunk's HTTP Event Collector envelope, one JSON object per
 * event, with `Authorization: Splunk <token>`. A 2xx answer is success; its body is never read.
 */
import { createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import { Agent, request } from 'undici';
import { describeError, SinkError, type AuditSink, type ExportRecord } from './types.ts';

export interface WebhookSinkOptions {
  readonly name: string;
  readonly url: string;
  readonly format: 'gatehouse' | 'splunk-hec';
  readonly secret?: string;
  readonly token?: string;
  readonly index?: string;
  readonly source: string;
  readonly sourcetype: string;
  readonly now?: () => number;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookSink implements AuditSink {
  readonly name: string;
  private readonly agent = new Agent({ connections: 2, keepAliveTimeout: 30_000 });
  private readonly host = hostname();
  private readonly now: () => number;

  constructor(private readonly options: WebhookSinkOptions) {
    this.name = options.name;
    this.now = options.now ?? Date.now;
  }

  /** The body and headers of a batch (exported for tests and for receivers' documentation). */
  render(records: readonly ExportRecord[]): { body: string; headers: Record<string, string> } {
    const o = this.options;
    const headers: Record<string, string> = { 'user-agent': 'gatehouse-audit-export' };
    if (o.format === 'splunk-hec') {
      const body = records
        .map((r) =>
          JSON.stringify({
            time: Date.parse(r.event.time) / 1000,
            host: this.host,
            source: o.source,
            sourcetype: o.sourcetype,
            ...(o.index ? { index: o.index } : {}),
            event: r.body,
          }),
        )
        .join('\n');
      headers['content-type'] = 'application/json';
      headers.authorization = `Splunk ${o.token ?? ''}`;
      return { body, headers };
    }
    const body = JSON.stringify(records.map((r) => r.body));
    const timestamp = String(Math.floor(this.now() / 1000));
    headers['content-type'] = 'application/json';
    headers['x-gatehouse-timestamp'] = timestamp;
    headers['x-gatehouse-signature'] = webhookSignature(o.secret ?? '', timestamp, body);
    headers['x-gatehouse-batch'] = `${records[0]?.event.id ?? ''}..${records.at(-1)?.event.id ?? ''}`;
    return { body, headers };
  }

  async send(records: readonly ExportRecord[], signal: AbortSignal): Promise<void> {
    const { body, headers } = this.render(records);
    let status: number;
    try {
      // A redirect is not followed: the signed batch would go wherever the receiver points.
      const response = await request(this.options.url, { method: 'POST', headers, body, signal, dispatcher: this.agent });
      status = response.statusCode;
      // Not kept: a short answer is drained so the connection is reused, a long one cut off unread.
      await response.body.dump({ limit: 64 * 1024, signal }).catch(() => undefined);
    } catch (err) {
      throw new SinkError(`the webhook could not be reached: ${this.scrub(describeError(err))}`, { cause: err });
    }
    if (status >= 200 && status < 300) return;
    throw new SinkError(`the webhook answered status ${status}`, { status, tooLarge: status === 413 });
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  /** An error text never carries the address (its path may be a credential) or a secret. */
  private scrub(text: string): string {
    let out = text;
    for (const secret of [this.options.url, this.options.secret, this.options.token]) if (secret) out = out.split(secret).join('[redacted]');
    return out;
  }
}
