import { isIPv6 } from 'node:net';
import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
// Not part of a longer dotted run (1.2.3.4.5, OIDs) or a word (v1.2.3.4).
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?![\\w]|\\.\\d)`, 'g');
// Version numbers and section numbers look exactly like addresses; what precedes them tells.
const VERSION_CONTEXT =
  /(?:\bv|version|\bver\.?|release|build|firmware|kernel|update|upgrade|bump(?:ed)?|\btag|section|chapter|\bstep|figure|table|§|==|~=|>=|<=)\s*[:=]?\s*(?:to\s*)?$/i;

export const ipv4Detector: Detector = {
  type: 'ipv4',
  name: 'ipv4',
  signalled: true,
  priority: PRIORITY.ipv4,
  find(text: string, out: Span[]): void {
    IPV4.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = IPV4.exec(text)) !== null) {
      if (VERSION_CONTEXT.test(text.slice(Math.max(0, m.index - 24), m.index))) continue;
      out.push({ start: m.index, end: m.index + m[0].length, detector: ipv4Detector });
    }
  },
};

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * Every IPv6 form but the bare `::` and `::1` has two colons with at most four hex digits
 * between them; colons are found with indexOf and the rest is checked in place.
 */
function nextAnchor(text: string, from: number): number {
  for (let p = text.indexOf(':', from); p !== -1; p = text.indexOf(':', p + 1)) {
    let q = p + 1;
    while (q < text.length && q - p <= 4 && isHex(text.charCodeAt(q))) q++;
    if (text.charCodeAt(q) === 58) return p;
  }
  return -1;
}

function isHexOrColonOrDot(c: number): boolean {
  return (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46;
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** `::` or at least six colons (eight groups, or six and an IPv4 tail): cheaper than isIPv6 on `08:15:05`. */
function mayBeIpv6(s: string): boolean {
  if (s.includes('::')) return true;
  let colons = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 58) colons++;
  return colons >= 6;
}

function hexDigitCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 58 && s.charCodeAt(i) !== 46) n++;
  return n;
}

export const ipv6Detector: Detector = {
  type: 'ipv6',
  name: 'ipv6',
  signalled: true,
  priority: PRIORITY.ipv6,
  normalize: (v) => v.toLowerCase(),
  find(text: string, out: Span[]): void {
    for (let p = nextAnchor(text, 0); p !== -1; ) {
      let start = p;
      while (start > 0 && isHexOrColonOrDot(text.charCodeAt(start - 1))) start--;
      let end = p + 1;
      while (end < text.length && isHexOrColonOrDot(text.charCodeAt(end))) end++;
      p = nextAnchor(text, end);
      // A sentence-ending dot is not part of the address.
      while (end > start && text.charCodeAt(end - 1) === 46) end--;
      while (start < end && text.charCodeAt(start) === 46) start++;
      if (start > 0 && isWordChar(text.charCodeAt(start - 1))) continue;
      if (end < text.length && isWordChar(text.charCodeAt(end))) continue;
      let candidate = text.slice(start, end);
      if (!mayBeIpv6(candidate)) continue;
      // `at 2001:db8::1: retrying` — a colon that ends the address in prose.
      if (!isIPv6(candidate) && candidate.endsWith(':') && !candidate.endsWith('::')) {
        candidate = candidate.slice(0, -1);
        end--;
      }
      if (!isIPv6(candidate)) continue;
      // `a::b`, `ff::` in prose and code are valid addresses but rarely meant as ones.
      if (candidate !== '::1' && hexDigitCount(candidate) < 4) continue;
      out.push({ start, end, detector: ipv6Detector });
    }
  },
};
