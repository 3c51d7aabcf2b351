/**
 * Label sets and the small helpers every part of the package shares: lookup that ignores
 * inherited properties, Go's byte-wise string order, and Go's `strconv.ParseInt(s, 10, 64)`.
 */
import { describeReceived } from './errors.js';

/**
 * A set of labels: a plain object (own string properties only; inherited ones such as
 * `constructor` are never labels) or a `Map`.
 */
export type LabelSet = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

/** The value of label `key` in `labels`, or `undefined` when it has no such label. */
export function lookupLabel(labels: LabelSet, key: string): string | undefined {
  if (labels instanceof Map) return (labels as ReadonlyMap<string, string>).get(key);
  const record = labels as Readonly<Record<string, string>>;
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The `[key, value]` pairs of a label set. Throws TypeError on anything else. */
export function entriesOf(labels: LabelSet): Iterable<readonly [string, string]> {
  if (labels instanceof Map) return labels.entries();
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new TypeError(`Expected labels as an object or a Map of strings, received ${describeReceived(labels)}`);
  }
  return Object.entries(labels as Readonly<Record<string, string>>);
}

/**
 * Compares two strings as Go compares them: byte-wise over their UTF-8 encoding, which is
 * code point order (JavaScript's `<` compares UTF-16 code units, which differs above U+FFFF).
 */
export function compareBytewise(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (U+10000 and above) sort after U+E000..U+FFFF in code point order.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** A copy of `values` sorted byte-wise (Go's `sort.Strings`). */
export function sortedBytewise(values: readonly string[]): string[] {
  return [...values].sort(compareBytewise);
}

/** True when `values` is already in byte-wise order. */
export function isSortedBytewise(values: readonly string[]): boolean {
  for (let i = 1; i < values.length; i++) {
    if (compareBytewise(values[i - 1]!, values[i]!) > 0) return false;
  }
  return true;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const decimalInteger = /^[+-]?[0-9]+$/;

/**
 * Go's `strconv.ParseInt(text, 10, 64)`: an optional sign and one or more ASCII digits
 * (leading zeros allowed, nothing else: no spaces, no underscores, no `0x`), within the int64
 * range. Returns `undefined` where Go returns an error (syntax or range).
 */
export function parseInt64(text: string): bigint | undefined {
  if (!decimalInteger.test(text)) return undefined;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}
