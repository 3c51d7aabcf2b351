/**
 * Seeded pseudo-random generators — the one place for them. Flotilla's pure cores take
 * randomness as an injected seeded source, so a run (a simulated cluster, a leader
 * election's jitter, a generated workload) is reproducible from its seed. Two generators,
 * each with its recorded seeds in the tests and benchmarks that depend on its exact sequence:
 * `mulberry32` (floats; reconcile's `seededRandom`, the scheduler's workload generator) and
 * `sfc32` (integers and floats; the Raft core's `seededRandomSource`).
 */

/** A source of uniformly distributed integers, the Raft core's randomness seam. */
export interface RandomSource {
  /** A uniformly distributed integer in `[0, n)`. */
  int(n: number): number;
}

/** A seeded source of floats in [0, 1) (mulberry32, one 32-bit word of state). Same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fast seeded generator of integers and floats (sfc32 seeded through splitmix32). Same seed, same sequence. */
export function sfc32(seed: number): RandomSource & { float(): number } {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    int(n: number): number {
      return Math.floor((next() / 4294967296) * n);
    },
    float(): number {
      return next() / 4294967296;
    },
  };
}
