/**
 * Injectable randomness: a seeded source of floats, and a string hash to seed one per identity.
 */
import { mulberry32 } from '@flotilla/sys';

/**
 * A seeded source of numbers in [0, 1) (mulberry32; the repository's one copy lives in the
 * internal `@flotilla/sys`): deterministic, injectable randomness. Same seed, same sequence.
 */
export function seededRandom(seed: number): () => number {
  return mulberry32(seed);
}

/** @internal FNV-1a hash of a string, to seed per-identity randomness. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
