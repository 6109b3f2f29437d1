/**
 * Classifications by statement shape (see fingerprint.ts), falling back to the exact text.
 *
 * A shape's facts answer every text of that shape, re-labelled with that text. They are stored
 * per shape only when they were parsed without error and read no literal's value; a shape whose
 * facts did read one is remembered as such, so its texts go straight to the exact-text cache.
 * Whether a walk reads a literal is itself decided by the shape: until the first read, the walk
 * of two texts of one shape cannot differ. Parse errors stay per text: their message quotes the
 * text, and a few grammar rules check a value (float(0)).
 */
import type { SqlFacts } from '../../interaction.ts';
import { withText } from './facts.ts';
import { LruCache } from './lru.ts';

const LITERAL_DEPENDENT = Symbol('facts read a literal');

export interface FactsCacheStats {
  /** Answered by a text of the same shape (or the same text, when it has no literals). */
  readonly shapeHits: number;
  /** Answered by the same text, its shape being unknown or literal-dependent. */
  readonly textHits: number;
}

export class FactsCache {
  private readonly byShape: LruCache<string, SqlFacts | typeof LITERAL_DEPENDENT>;
  private readonly byText: LruCache<string, SqlFacts>;
  private shapeHits = 0;
  private textHits = 0;

  constructor(entries: number) {
    this.byShape = new LruCache(entries);
    this.byText = new LruCache(entries);
  }

  /** `shape` is the text's fingerprint, or null when it has none. */
  get(text: string, shape: string | null): SqlFacts | undefined {
    if (shape !== null) {
      const shared = this.byShape.get(shape);
      if (shared !== undefined && shared !== LITERAL_DEPENDENT) {
        this.shapeHits++;
        return shared.text === text ? shared : withText(shared, text);
      }
    }
    const own = this.byText.get(text);
    if (own !== undefined) this.textHits++;
    return own;
  }

  set(text: string, shape: string | null, facts: SqlFacts, readsLiterals: boolean): void {
    if (shape !== null && facts.parseError === null) {
      this.byShape.set(shape, readsLiterals ? LITERAL_DEPENDENT : facts);
      if (!readsLiterals) return;
    }
    this.byText.set(text, facts);
  }

  get stats(): FactsCacheStats {
    return { shapeHits: this.shapeHits, textHits: this.textHits };
  }
}
