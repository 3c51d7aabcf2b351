/**
 * Lower bounds on the number of nodes a batch needs.
 */
import type { Node, Pod } from '@flotilla/scheduler';

const RESOURCES = ['cpu', 'memory'] as const;

/**
 * Martello–Toth L2 for one resource (bins of capacity `c`, item sizes `sizes`):
 * max over α ∈ [0, c/2] of |J1| + |J2| + max(0, ⌈(Σ J3 − (|J2|·c − Σ J2)) / c⌉), where
 * J1 = items > c − α, J2 = items in (c/2, c − α], J3 = items in [α, c/2]. α = 0 gives the
 * continuous bound ⌈Σ / c⌉, so L2 ≥ L1. Only the distinct sizes ≤ c/2 need be tried as α.
 */
export function martelloTothL2(sizes: readonly number[], c: number): number {
  const counts = new Map<number, number>();
  for (const s of sizes) counts.set(s, (counts.get(s) ?? 0) + 1);
  const distinct = [...counts.keys()].sort((a, b) => a - b);
  const alphas = [0, ...distinct.filter((s) => s <= c / 2)];
  let best = 0;
  for (const alpha of alphas) {
    let j1 = 0;
    let j2 = 0;
    let sum2 = 0;
    let sum3 = 0;
    for (const s of distinct) {
      const n = counts.get(s)!;
      if (s > c - alpha) j1 += n;
      else if (s > c / 2) {
        j2 += n;
        sum2 += n * s;
      } else if (s >= alpha) sum3 += n * s;
    }
    const bound = j1 + j2 + Math.max(0, Math.ceil((sum3 - (j2 * c - sum2)) / c));
    if (bound > best) best = bound;
  }
  return best;
}

/** Identical nodes: max over resources of max(⌈Σ/c⌉, L2). */
export function identicalLowerBound(node: Node, pods: readonly Pod[]): { l1: number; l2: number } {
  let l1 = 0;
  let l2 = 0;
  for (const r of RESOURCES) {
    const c = node.capacity[r] as number;
    const sizes = pods.map((p) => (p.requests[r] as number | undefined) ?? 0);
    const total = sizes.reduce((a, b) => a + b, 0);
    l1 = Math.max(l1, Math.ceil(total / c));
    l2 = Math.max(l2, martelloTothL2(sizes, c));
  }
  return { l1, l2 };
}

/** Mixed sizes: the fewest of the largest nodes whose capacity covers the total request in every resource. */
export function mixedLowerBound(nodes: readonly Node[], pods: readonly Pod[]): number {
  const need = RESOURCES.map((r) => pods.reduce((a, p) => a + ((p.requests[r] as number | undefined) ?? 0), 0));
  // Taking the nodes largest-first per resource and the max of the counts is a valid bound.
  let bound = 0;
  RESOURCES.forEach((r, i) => {
    const caps = nodes.map((n) => n.capacity[r] as number).sort((a, b) => b - a);
    let sum = 0;
    let count = 0;
    while (sum < need[i]! && count < caps.length) sum += caps[count++]!;
    bound = Math.max(bound, count);
  });
  return bound;
}
