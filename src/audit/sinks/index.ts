/** Builds each configured sink (config/audit-sinks.ts). Relative paths are read from the config's folder. */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { AuditSinkConfig } from '../../config/audit-sinks.ts';
import { ConfigError } from '../../errors.ts';
import { FileSink } from './file.ts';
import { OtlpSink } from './otlp.ts';
import { StdoutSink } from './stdout.ts';
import { SyslogSink } from './syslog.ts';
import type { AuditSink } from './types.ts';
import { WebhookSink } from './webhook.ts';

export type { AuditSink, ExportRecord } from './types.ts';
export { SinkError } from './types.ts';
export { webhookSignature } from './webhook.ts';

export async function createSink(config: AuditSinkConfig, baseDir: string): Promise<AuditSink> {
  const at = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  switch (config.type) {
    case 'file':
      return new FileSink({ name: config.name, path: at(config.path), maxSize: config.rotate.maxSize, keep: config.rotate.keep });
    case 'stdout':
      return new StdoutSink(config.name);
    case 'webhook':
      return new WebhookSink({
        name: config.name,
        url: config.url,
        format: config.format,
        secret: config.secret,
        token: config.token,
        index: config.index,
        source: config.source,
        sourcetype: config.sourcetype ?? (config.schema === 'ocsf' ? 'ocsf' : 'gatehouse:audit'),
      });
    case 'syslog': {
      let ca = config.ca;
      if (config.caFile !== undefined) {
        try {
          ca = await readFile(at(config.caFile), 'utf8');
        } catch (err) {
          throw new ConfigError(`audit sink ${config.name}: cannot read caFile ${config.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
        }
      }
      return new SyslogSink({ ...config, ca });
    }
    case 'otlp':
      return new OtlpSink({ name: config.name, url: config.url, headers: config.headers, serviceName: config.serviceName, timeoutMs: config.timeout });
  }
}
