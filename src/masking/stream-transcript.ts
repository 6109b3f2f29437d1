import { ChannelKind, channelLabel, type Json } from './stream-events.ts';

interface Entry {
  label: string;
  text: string;
  /** A tool call's name is only known once its first delta named it. */
  named: boolean;
  readonly call: boolean;
}

/**
 * What a recording keeps of a stream: each channel's text in the order channels first
 * appeared (`[choice 1] `, `[refusal] `, `[reasoning] `, `[tool call] name(args)` labels), plus
 * notes (error events). At most `limit` bytes of text are kept.
 */
export class StreamTranscript {
  private readonly entries: Entry[] = [];
  private readonly byKey = new Map<string, Entry>();
  private bytes = 0;
  private truncated = false;

  constructor(private readonly limit: number) {}

  /** False once the limit is reached: callers may stop parsing for the transcript's sake. */
  get open(): boolean {
    return !this.truncated;
  }

  add(key: string, kind: ChannelKind, choice: number, holder: Json, prop: string, text: string): void {
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      if (this.truncated) return;
      const call = kind === ChannelKind.ChatTool || kind === ChannelKind.ChatFunction;
      const label = (choice > 0 ? `[choice ${choice}] ` : '') + channelLabel(kind, prop, kind === ChannelKind.PartText ? holder.thought : holder.type);
      entry = { label, text: '', named: !call, call };
      this.byKey.set(key, entry);
      this.entries.push(entry);
    }
    if (!entry.named && typeof holder.name === 'string' && holder.name !== '') {
      entry.label += holder.name;
      entry.named = true;
    }
    entry.text += this.take(text);
  }

  note(text: string): void {
    const kept = this.take(text);
    if (kept !== '') this.entries.push({ label: '', text: kept, named: true, call: false });
  }

  private take(text: string): string {
    if (this.truncated || text.length === 0) return '';
    const size = Buffer.byteLength(text);
    if (this.bytes + size <= this.limit) {
      this.bytes += size;
      return text;
    }
    this.truncated = true;
    const head = Buffer.from(text).subarray(0, this.limit - this.bytes).toString('utf8').replace(/\uFFFD$/, '');
    this.bytes = this.limit;
    return head;
  }

  toString(): string {
    let out = '';
    for (const e of this.entries) {
      if (e.text === '' && !e.call) continue;
      if (out !== '') out += '\n';
      out += e.call ? `${e.label}(${e.text})` : e.label + e.text;
    }
    return this.truncated ? `${out}\n[transcript truncated]` : out;
  }
}
