/**
 * JSON parsing that keeps integers a double cannot hold. `JSON.parse` silently rounds
 * 12345678901234567891 to 12345678901234567000, so a body that may hold such a literal goes
 * through a small exact parser instead; every other body takes the native fast path.
 */
import { LosslessNumber } from './model.js';

/**
 * An integer literal of 16 or more digits (2^53 has 16). Digits preceded by `.` or followed by
 * `.`/exponent are part of a decimal, which doubles round by design. Matches inside strings only
 * cost the slow path, never correctness.
 */
const LONG_INTEGER_LITERAL = /(?<![\d.])\d{16,}(?![\d.eE])/;

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const MAX_DEPTH = 512;

export function mayHoldUnsafeInteger(text: string): boolean {
  return LONG_INTEGER_LITERAL.test(text);
}

/** Parses JSON; integer literals beyond ±(2^53 − 1) become `LosslessNumber` with their exact text. */
export function parseJsonLossless(text: string): unknown {
  return mayHoldUnsafeInteger(text) ? parseJsonExact(text) : JSON.parse(text);
}

/** The exact parser itself (exported for tests; use `parseJsonLossless`). */
export function parseJsonExact(text: string): unknown {
  const parser = new ExactParser(text);
  const value = parser.value(0);
  parser.skipWhitespace();
  if (parser.pos !== text.length) parser.fail('unexpected content after the JSON value');
  return value;
}

class ExactParser {
  pos = 0;
  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.pos}`);
  }

  skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    this.pos = pos;
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('JSON nested too deeply');
    this.skipWhitespace();
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b:
        return this.object(depth);
      case 0x5b:
        return this.array(depth);
      case 0x22:
        return this.string();
      case 0x74:
        return this.literal('true', true);
      case 0x66:
        return this.literal('false', false);
      case 0x6e:
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        return this.fail(Number.isNaN(c) ? 'unexpected end of JSON' : 'unexpected character');
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  private number(): number | LosslessNumber {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail('invalid number');
    const literal = match[0];
    this.pos += literal.length;
    const value = Number(literal);
    const isInteger = match[1] === undefined && match[2] === undefined;
    return isInteger && !Number.isSafeInteger(value) ? new LosslessNumber(literal) : value;
  }

  private string(): string {
    const text = this.text;
    const start = this.pos;
    let pos = start + 1;
    for (;;) {
      const end = text.indexOf('"', pos);
      if (end < 0) {
        this.pos = text.length;
        return this.fail('unterminated string');
      }
      let backslashes = 0;
      for (let i = end - 1; i > start && text.charCodeAt(i) === 0x5c; i--) backslashes++;
      if (backslashes % 2 === 0) {
        this.pos = end + 1;
        // The native parser validates escapes and control characters exactly as JSON.parse would.
        return JSON.parse(text.slice(start, end + 1)) as string;
      }
      pos = end + 1;
    }
  }

  private array(depth: number): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail("expected ',' or ']'");
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.pos++;
    const out: Record<string, unknown> = {};
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
      const key = this.string();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos++) !== 0x3a) this.fail("expected ':'");
      const value = this.value(depth + 1);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = value;
      }
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail("expected ',' or '}'");
    }
  }
}
