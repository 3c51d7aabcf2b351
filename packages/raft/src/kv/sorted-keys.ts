/**
 * SortedKeys: the KV's live keys in byte order ({@link compareKeys}), as a list of sorted
 * blocks of at most {@link BLOCK_KEYS} keys (a one-level B+tree). Insert and delete cost
 * O(log n + BLOCK_KEYS) instead of a flat array's O(n) splice, which made loading 300,000
 * keys quadratic (minutes); a range walks blocks from the first key at or after a bound.
 */
import { compareKeys, lowerBound, upperBound } from './key-order.js';

/** Keys per block before it splits in two. */
export const BLOCK_KEYS = 512;

export class SortedKeys {
  /** Non-empty sorted blocks; every key of block i sorts before every key of block i + 1. */
  #blocks: string[][] = [];
  #size = 0;

  /** Builds from keys already sorted by {@link compareKeys} and free of duplicates. */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const s = new SortedKeys();
    for (let i = 0; i < keys.length; i += BLOCK_KEYS / 2) s.#blocks.push(keys.slice(i, i + BLOCK_KEYS / 2));
    s.#size = keys.length;
    return s;
  }

  get size(): number {
    return this.#size;
  }

  /** The block that holds, or would hold, `key`: the first whose last key is >= key (the last block when none). */
  #blockFor(key: string): number {
    const blocks = this.#blocks;
    let lo = 0;
    let hi = blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = blocks[mid]!;
      if (compareKeys(b[b.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts `key`; a key already present is left as it is. */
  insert(key: string): void {
    if (this.#blocks.length === 0) {
      this.#blocks.push([key]);
      this.#size = 1;
      return;
    }
    const bi = this.#blockFor(key);
    const block = this.#blocks[bi]!;
    const at = lowerBound(block, key);
    if (at < block.length && block[at] === key) return;
    block.splice(at, 0, key);
    this.#size++;
    if (block.length > BLOCK_KEYS) this.#blocks.splice(bi + 1, 0, block.splice(BLOCK_KEYS / 2));
  }

  /** Removes `key`; returns whether it was present. */
  delete(key: string): boolean {
    if (this.#blocks.length === 0) return false;
    const bi = this.#blockFor(key);
    const block = this.#blocks[bi]!;
    const at = lowerBound(block, key);
    if (at >= block.length || block[at] !== key) return false;
    block.splice(at, 1);
    this.#size--;
    if (block.length === 0) this.#blocks.splice(bi, 1);
    return true;
  }

  /**
   * Keys in order from the first one >= `from` (or > `after`, whichever starts later),
   * while they start with `prefix`.
   */
  *scan(prefix: string, after?: string): Generator<string> {
    if (this.#blocks.length === 0) return;
    const start = after !== undefined && compareKeys(after, prefix) >= 0 ? after : prefix;
    const strict = start === after;
    let bi = this.#blockFor(start);
    let i = strict ? upperBound(this.#blocks[bi]!, start) : lowerBound(this.#blocks[bi]!, start);
    for (; bi < this.#blocks.length; bi++, i = 0) {
      const block = this.#blocks[bi]!;
      for (; i < block.length; i++) {
        const key = block[i]!;
        if (!key.startsWith(prefix)) return;
        yield key;
      }
    }
  }

  /** Every key in order. */
  toArray(): string[] {
    return this.#blocks.flat();
  }
}
