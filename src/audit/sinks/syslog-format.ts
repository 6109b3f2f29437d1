/**
 * RFC 5424 messages and RFC 6587 octet-counting frames. The header fields are printable US-ASCII
 * without spaces (anything else becomes `_`), structured-data values escape `"`, `\` and `]`,
 * and the message is the event as one line of JSON (newlines and control characters escaped by
 * JSON itself), after a UTF-8 BOM as RFC 5424 asks for UTF-8 text.
 */
import type { ExportRecord } from './types.ts';

/** The structured-data id: 32473 is the enterprise number RFC 5612 sets aside for documentation. */
export const SD_ID = 'gatehouse@32473';
const BOM = '\uFEFF';

export interface SyslogHeader {
  readonly facility: number;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
}

/** Printable US-ASCII (33-126) only, at most `max` characters; `-` (NILVALUE) when empty. */
export function headerField(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

export function sdValue(text: string): string {
  return text.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** Warning (4) for a refusal or a failed admin action, Informational (6) otherwise. */
export function severityOf(record: ExportRecord): number {
  const e = record.event;
  if (e.decision && e.decision.result !== 'allow') return 4;
  if (e.action?.outcome !== undefined && e.action.outcome !== null && e.action.outcome >= 400) return 4;
  return 6;
}

export function formatMessage(record: ExportRecord, header: SyslogHeader, message: string = JSON.stringify(record.body)): string {
  const e = record.event;
  const pri = header.facility * 8 + severityOf(record);
  const sd = `[${SD_ID} id="${sdValue(e.id)}" writer="${sdValue(e.writer)}" seq="${e.seq}" hash="${sdValue(e.hash)}" kind="${sdValue(e.kind)}"]`;
  return `<${pri}>1 ${e.time} ${headerField(header.hostname, 255)} ${headerField(header.appName, 48)} ${headerField(header.procId, 128)} ${headerField(e.kind, 32)} ${sd} ${BOM}${message}`;
}

/** RFC 6587 octet counting: the message's length in bytes, a space, the message. */
export function frame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

/**
 * A message for one UDP datagram: when the event does not fit, a stub that keeps its id and chain
 * hash (and says it was cut), so a receiver still sees the chain has no hole.
 */
export function datagram(record: ExportRecord, header: SyslogHeader, maxBytes: number): Buffer {
  const full = Buffer.from(formatMessage(record, header), 'utf8');
  if (full.length <= maxBytes) return full;
  const e = record.event;
  const stub = JSON.stringify({ schema: e.schema, id: e.id, time: e.time, kind: e.kind, writer: e.writer, seq: e.seq, hash: e.hash, prevHash: e.prevHash, truncated: true, bytes: full.length });
  return Buffer.from(formatMessage(record, header, stub), 'utf8');
}
