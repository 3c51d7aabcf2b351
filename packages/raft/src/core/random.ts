/**
 * The randomness the core needs: an integer in [0, n). Inject a seeded source so that
 * a run is reproducible from its seed.
 */
import { sfc32 } from '@flotilla/sys';

export interface RandomSource {
  /** A uniformly distributed integer in `[0, n)`. */
  int(n: number): number;
}

/**
 * A fast seeded generator (sfc32 seeded through splitmix32; the repository's one copy lives
 * in the internal `@flotilla/sys`). Same seed, same sequence.
 */
export function seededRandomSource(seed: number): RandomSource & { float(): number } {
  return sfc32(seed);
}

/**
 * The same as {@link seededRandomSource}.
 * @deprecated Use `seededRandomSource` (issue 18: `@flotilla/reconcile`'s `seededRandom` is another
 * shape, a function returning floats).
 */
export const seededRandom: (seed: number) => RandomSource & { float(): number } = seededRandomSource;
