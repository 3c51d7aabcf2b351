/**
 * The randomness the core needs: an integer in [0, n). Inject a seeded source so that
 * a run is reproducible from its seed.
 */
export interface RandomSource {
  /** A uniformly distributed integer in `[0, n)`. */
  int(n: number): number;
}

/** A fast seeded generator (sfc32 seeded through splitmix32). Same seed, same sequence. */
export function seededRandom(seed: number): RandomSource & { float(): number } {
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
