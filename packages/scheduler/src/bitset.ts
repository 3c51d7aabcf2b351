/**
 * Bitsets in `Uint32Array`s, as the candidate index uses them: which nodes of a class are
 * empty, which cells of a grid row and which rows hold any node in use.
 */

export function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}

export function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! &= ~(1 << (i & 31));
}

/** The first set bit at or after `from`, or -1. */
export function nextSetBit(bits: Uint32Array, from: number): number {
  let word = from >>> 5;
  if (word >= bits.length) return -1;
  let w = bits[word]! & (~0 << (from & 31));
  for (;;) {
    if (w !== 0) return (word << 5) + (31 - Math.clz32(w & -w));
    word++;
    if (word >= bits.length) return -1;
    w = bits[word]!;
  }
}

/**
 * Rows of `width` bits (a multiple of 32) laid end to end in one array: the first set bit
 * of row `row` at a column in [`from`, width), or -1.
 */
export function nextSetInRow(bits: Uint32Array, wordsPerRow: number, row: number, from: number): number {
  if (from >= wordsPerRow << 5) return -1;
  let word = from >>> 5;
  let m = bits[row * wordsPerRow + word]! & (~0 << (from & 31));
  for (;;) {
    if (m !== 0) return (word << 5) + (31 - Math.clz32(m & -m));
    if (++word >= wordsPerRow) return -1;
    m = bits[row * wordsPerRow + word]!;
  }
}

/** The last set bit of row `row` at a column in [`floor`, `from`], or -1. */
export function prevSetInRow(bits: Uint32Array, wordsPerRow: number, row: number, from: number, floor: number): number {
  if (from < floor) return -1;
  let word = from >>> 5;
  const shift = from & 31;
  let m = bits[row * wordsPerRow + word]! & (shift === 31 ? ~0 : (1 << (shift + 1)) - 1);
  for (;;) {
    if (m !== 0) {
      const j = (word << 5) + (31 - Math.clz32(m));
      return j >= floor ? j : -1;
    }
    if (--word < 0 || word << 5 < floor - 31) return -1;
    m = bits[row * wordsPerRow + word]!;
  }
}

/** Is any bit of row `row` set? */
export function rowHasAny(bits: Uint32Array, wordsPerRow: number, row: number): boolean {
  for (let w = 0; w < wordsPerRow; w++) if (bits[row * wordsPerRow + w] !== 0) return true;
  return false;
}
