/**
 * Splits a JSON array that arrives in pieces into its elements as each one completes, without
 * parsing them (the caller does): only strings, escapes and nesting are tracked, and only the
 * unfinished element is kept between pieces. A body that is one object instead (an error the
 * upstream answered with) comes out as that one element, with `bare` set.
 */
import { MaskingError } from '../../errors.ts';

const enum State {
  Start,
  /** After `[` or `,`: an element (or `]` right after `[`). */
  Value,
  /** Inside an element. */
  Element,
  /** After an element: `,` or `]`. */
  After,
  End,
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export class JsonArraySplitter {
  private state = State.Start;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private current = '';
  private first = true;
  /** The body is one object, not an array. */
  bare = false;

  constructor(private readonly maxElementChars: number) {}

  /** `[` when the array opens, then each element's text as it completes. */
  push(text: string): string[] {
    const out: string[] = [];
    let start = -1;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      switch (this.state) {
        case State.Start:
          if (isSpace(c)) continue;
          if (c === 0x7b /* { */) {
            // One object instead of an array: an error the upstream answered with.
            this.bare = true;
            this.state = State.Element;
            this.depth = 0;
            start = i;
            break;
          }
          if (c !== 0x5b /* [ */) throw new MaskingError('the streamed response is not a JSON array; under a masking profile it cannot be placed, so it was ended');
          this.state = State.Value;
          out.push('[');
          continue;
        case State.Value:
          if (isSpace(c)) continue;
          if (c === 0x5d /* ] */ && this.first) {
            this.state = State.End;
            continue;
          }
          if (c !== 0x7b /* { */) throw new MaskingError('an element of the streamed JSON array is not an object; the stream was ended');
          this.state = State.Element;
          this.depth = 0;
          start = i;
          break;
        case State.After:
          if (isSpace(c)) continue;
          if (c === 0x2c /* , */) this.state = State.Value;
          else if (c === 0x5d) this.state = State.End;
          else throw new MaskingError('the streamed JSON array is malformed between elements; the stream was ended');
          continue;
        case State.End:
          if (!isSpace(c)) throw new MaskingError('the upstream sent data after the end of the JSON array; the stream was ended');
          continue;
        case State.Element:
          if (start === -1) start = i;
          break;
      }
      // Inside an element (its first character included).
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          const element = this.current + text.slice(start, i + 1);
          this.current = '';
          start = -1;
          this.first = false;
          this.state = this.bare ? State.End : State.After;
          out.push(element);
        }
      }
    }
    if (this.state === State.Element && start !== -1) this.current += text.slice(start);
    if (this.current.length > this.maxElementChars) throw new MaskingError(`an element of the streamed response is larger than ${this.maxElementChars} characters; the stream was ended`);
    return out;
  }

  end(): void {
    if (this.state !== State.End) throw new MaskingError('the streamed JSON array ended before it was closed; the stream was ended');
  }
}
