import { createRequire } from 'node:module';
import type nlpType from 'compromise';
import type { Detector, Span } from '../types.ts';
import { PRIORITY } from './priority.ts';

/**
 * Person names via compromise's rule-based tagger (no model download). Opt-in: it is about
 * a hundred times slower than the structured detectors and less precise. The library is
 * loaded on first use so that profiles without `person` never pay for it.
 */
let nlp: typeof nlpType | undefined;

function load(): typeof nlpType {
  nlp ??= createRequire(import.meta.url)('compromise') as typeof nlpType;
  return nlp;
}

interface PersonMatch {
  offset?: { start: number; length: number };
  text?: string;
}

// compromise keeps titles and trailing punctuation in its match; the name is what we mask.
const LEADING_TITLE = /^(?:(?:mr|mrs|ms|dr|prof|sir)\.?\s+)/i;
// compromise also tags lower-case words, e-mail addresses and passwords as people; a name
// as written in text is capitalised words (initials and particles allowed) and nothing else.
const NAME_SHAPE = /^\p{Lu}[\p{L}'’-]*\.?(?:\s+(?:\p{Lu}[\p{L}'’-]*\.?|(?:de|da|di|del|der|van|von|la|le|bin|al)(?=\s)))*$/u;

/**
 * compromise's work grows faster than its input on some text (`Dr. Dr. Dr. …` takes seconds at
 * 16 KiB and minutes at 64 KiB), so it only ever reads bounded windows: cost per window is bounded,
 * and the whole text costs a fixed amount per character. Windows end at a line break, a sentence
 * end or a space where one is near, so a name is rarely cut in two.
 */
const WINDOW = 2048;
const BOUNDARY_SEARCH = 256;

function windowEnd(text: string, start: number): number {
  const end = start + WINDOW;
  if (end >= text.length) return text.length;
  for (const sep of ['\n', '. ', ' ']) {
    const at = text.lastIndexOf(sep, end - sep.length);
    if (at >= end - BOUNDARY_SEARCH && at > start) return at + sep.length;
  }
  return end;
}

function findIn(text: string, offset: number, out: Span[]): void {
  const people = load()(text).people().json({ offset: true }) as PersonMatch[];
  for (const p of people) {
    if (p.offset === undefined) continue;
    let start = p.offset.start;
    let end = start + p.offset.length;
    const title = LEADING_TITLE.exec(text.slice(start, end));
    if (title !== null) start += title[0].length;
    while (end > start && /[^\p{L}.]/u.test(text[end - 1]!)) end--;
    if (NAME_SHAPE.test(text.slice(start, end))) out.push({ start: offset + start, end: offset + end, detector: personDetector });
  }
}

export const personDetector: Detector = {
  type: 'person',
  name: 'person',
  priority: PRIORITY.person,
  find(text: string, out: Span[]): void {
    // Names start with a capital letter; skip the tagger on text that has none.
    if (!/[A-Z]/.test(text)) return;
    for (let start = 0; start < text.length; ) {
      const end = windowEnd(text, start);
      const window = text.slice(start, end);
      if (/[A-Z]/.test(window)) findIn(window, start, out);
      start = end;
    }
  },
};
