const UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };

/** Parses `512kb`, `10MB`, `1 GiB` or a plain byte count. Binary multiples: config sizes are buffer sizes. */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = UNITS[(match?.[2] || 'b').toLowerCase()];
  if (!match || unit === undefined) {
    throw new Error(`"${text}" is not a size; use a number of bytes or a unit such as 64kb, 10mb, 1gb`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes <= 0) throw new Error(`size must be positive, got "${text}"`);
  return bytes;
}
