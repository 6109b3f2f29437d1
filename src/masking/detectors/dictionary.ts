import type { Detector } from '../types.ts';
import { PRIORITY } from './priority.ts';
import { regexDetector } from './regex-detector.ts';

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Literal terms, matched as whole words; the longest alternative first so `Bluebird II` beats `Bluebird`. */
export function dictionaryDetector(name: string, terms: readonly string[], caseSensitive: boolean): Detector {
  const alternatives = [...new Set(terms)].sort((a, b) => b.length - a.length).map(escapeRegex);
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, caseSensitive ? 'gu' : 'giu');
  return regexDetector({
    type: name,
    name: `dictionary:${name}`,
    priority: PRIORITY.dictionary,
    patterns: [re],
    normalize: caseSensitive ? undefined : (v) => v.toLowerCase(),
  });
}
