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

export const personDetector: Detector = {
  type: 'person',
  name: 'person',
  priority: PRIORITY.person,
  find(text: string, out: Span[]): void {
    // Names start with a capital letter; skip the tagger on text that has none.
    if (!/[A-Z]/.test(text)) return;
    const people = load()(text).people().json({ offset: true }) as PersonMatch[];
    for (const p of people) {
      if (p.offset === undefined) continue;
      let start = p.offset.start;
      let end = start + p.offset.length;
      const title = LEADING_TITLE.exec(text.slice(start, end));
      if (title !== null) start += title[0].length;
      while (end > start && /[^\p{L}.]/u.test(text[end - 1]!)) end--;
      if (NAME_SHAPE.test(text.slice(start, end))) out.push({ start, end, detector: personDetector });
    }
  },
};
