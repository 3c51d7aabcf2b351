/**
 * Parsing a KV snapshot's JSON without making one string of it. V8 strings stop at
 * 2^29 − 24 characters (≈ 512 MiB), and a store of 150,000 instances (300,000 keys with the
 * per-host index) has a snapshot near that; `JSON.parse(decode(bytes))` then fails with
 * ERR_STRING_TOO_LONG and the member cannot restore its own snapshot. This scanner walks the
 * top-level object's bytes and parses each member — and each element of a member that is an
 * array — from its own slice, so no string is longer than the largest single key-value.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Snapshots up to this many bytes are parsed in one `JSON.parse`. */
export const ONE_PIECE_LIMIT = 64 * 1024 * 1024;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

class Scanner {
  readonly #b: Buffer;
  pos = 0;
  constructor(b: Buffer) {
    this.#b = b;
  }

  fail(what: string): never {
    throw new SyntaxError(`${what} at byte ${this.pos}`);
  }

  skipSpace(): void {
    while (isSpace(this.#b[this.pos])) this.pos++;
  }

  expect(c: number): void {
    this.skipSpace();
    if (this.#b[this.pos] !== c) this.fail(`expected ${String.fromCharCode(c)}`);
    this.pos++;
  }

  peek(): number | undefined {
    this.skipSpace();
    return this.#b[this.pos];
  }

  /** The end (exclusive) of the string starting at `i` (its opening quote). */
  #stringEnd(i: number): number {
    const b = this.#b;
    let j = i + 1;
    for (;;) {
      const c = b[j];
      if (c === undefined) this.fail('unterminated string');
      if (c === BACKSLASH) j += 2;
      else if (c === QUOTE) return j + 1;
      else j++;
    }
  }

  /** Parses the JSON value at the current position and moves past it. */
  value(): unknown {
    this.skipSpace();
    const b = this.#b;
    const start = this.pos;
    const c = b[start];
    let end: number;
    if (c === QUOTE) end = this.#stringEnd(start);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      let depth = 0;
      let j = start;
      for (;;) {
        const d = b[j];
        if (d === undefined) this.fail('unterminated object or array');
        if (d === QUOTE) {
          j = this.#stringEnd(j);
          continue;
        }
        if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
        else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) {
            end = j + 1;
            break;
          }
        }
        j++;
      }
    } else {
      let j = start;
      while (j < b.length && b[j] !== COMMA && b[j] !== CLOSE_BRACE && b[j] !== CLOSE_BRACKET && !isSpace(b[j])) j++;
      end = j;
    }
    if (end === start) this.fail('expected a value');
    this.pos = end;
    return JSON.parse(b.toString('utf8', start, end)) as unknown;
  }

  /** Parses an array element by element. */
  array(): unknown[] {
    this.expect(OPEN_BRACKET);
    const out: unknown[] = [];
    if (this.peek() === CLOSE_BRACKET) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      const c = this.peek();
      this.pos++;
      if (c === CLOSE_BRACKET) return out;
      if (c !== COMMA) this.fail('expected , or ]');
    }
  }
}

/**
 * `JSON.parse` of a snapshot (a JSON object), for any size: small ones in one piece, large
 * ones member by member and array element by element. Throws a `SyntaxError` on bad JSON.
 */
export function parseSnapshotJson(data: Uint8Array, onePieceLimit = ONE_PIECE_LIMIT): Record<string, unknown> {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length <= onePieceLimit) {
    const v = JSON.parse(b.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SyntaxError('a snapshot is a JSON object');
    return v as Record<string, unknown>;
  }
  const s = new Scanner(b);
  s.expect(OPEN_BRACE);
  const out: Record<string, unknown> = {};
  if (s.peek() === CLOSE_BRACE) s.pos++;
  else {
    for (;;) {
      const key = s.value();
      if (typeof key !== 'string') throw new SyntaxError(`expected a member name at byte ${s.pos}`);
      s.expect(COLON);
      out[key] = s.peek() === OPEN_BRACKET ? s.array() : s.value();
      const c = s.peek();
      s.pos++;
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) s.fail('expected , or }');
    }
  }
  s.skipSpace();
  if (s.pos !== b.length) s.fail('unexpected bytes after the snapshot');
  return out;
}
