/**
 * The score formulas. Every component scores a node 0–100 (kube-scheduler's
 * `MaxNodeScore`); the total is their weighted sum. kube-scheduler computes them in integers
 * and truncates; these keep full precision, so near-ties are not collapsed.
 */

/** The highest score a component gives (kube-scheduler's `framework.MaxNodeScore`). */
export const MAX_NODE_SCORE = 100;

/**
 * Most-allocated (kube-scheduler's NodeResourcesFit `MostAllocated` strategy), the `binpack`
 * score: `Σ wᵣ · min(1, requestedᵣ / capacityᵣ) · 100 / Σ wᵣ` over the weighted resources
 * whose capacity is not 0, where `requested` includes the pod being placed.
 */
export function mostAllocatedScore(
  requested: readonly number[],
  capacity: readonly number[],
  weights: readonly number[],
): number {
  let score = 0;
  let weightSum = 0;
  for (let i = 0; i < weights.length; i++) {
    const c = capacity[i] ?? 0;
    const w = weights[i] ?? 0;
    if (c <= 0 || w === 0) continue;
    score += w * Math.min(1, (requested[i] ?? 0) / c);
    weightSum += w;
  }
  return weightSum === 0 ? 0 : (score * MAX_NODE_SCORE) / weightSum;
}

/**
 * Least-allocated (kube-scheduler's NodeResourcesFit `LeastAllocated`, its default), the
 * `spread` score: `Σ wᵣ · max(0, (capacityᵣ − requestedᵣ) / capacityᵣ) · 100 / Σ wᵣ` over the
 * weighted resources whose capacity is not 0, `requested` including the pod.
 */
export function leastAllocatedScore(
  requested: readonly number[],
  capacity: readonly number[],
  weights: readonly number[],
): number {
  let score = 0;
  let weightSum = 0;
  for (let i = 0; i < weights.length; i++) {
    const c = capacity[i] ?? 0;
    const w = weights[i] ?? 0;
    if (c <= 0 || w === 0) continue;
    score += w * Math.max(0, (c - (requested[i] ?? 0)) / c);
    weightSum += w;
  }
  return weightSum === 0 ? 0 : (score * MAX_NODE_SCORE) / weightSum;
}

/**
 * Balanced allocation (kube-scheduler's NodeResourcesBalancedAllocation):
 * `(1 − σ) · 100`, where σ is the standard deviation of the fractions
 * `min(1, requestedᵣ / capacityᵣ)` over the weighted resources with capacity (for two
 * resources σ = |f₁ − f₂| / 2), `requested` including the pod. A node whose cpu and memory
 * would be equally used scores 100.
 */
export function balancedAllocationScore(
  requested: readonly number[],
  capacity: readonly number[],
  weights: readonly number[],
): number {
  const fractions: number[] = [];
  for (let i = 0; i < weights.length; i++) {
    const c = capacity[i] ?? 0;
    if (c <= 0 || (weights[i] ?? 0) === 0) continue;
    fractions.push(Math.min(1, (requested[i] ?? 0) / c));
  }
  if (fractions.length < 2) return MAX_NODE_SCORE;
  let std: number;
  if (fractions.length === 2) {
    std = Math.abs(fractions[0]! - fractions[1]!) / 2;
  } else {
    const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
    std = Math.sqrt(fractions.reduce((a, f) => a + (f - mean) ** 2, 0) / fractions.length);
  }
  return (1 - std) * MAX_NODE_SCORE;
}

/**
 * The PreferNoSchedule score (kube-scheduler's TaintToleration score with its reversed
 * default normalisation): `100 · (1 − c / cMax)`, where c counts the node's PreferNoSchedule
 * taints the pod does not tolerate and cMax is the largest such count over the nodes the pod
 * may use (its node selector, taints and cordons allow); 100 when cMax is 0. kube-scheduler
 * takes cMax over the nodes that passed every filter in this cycle; taking it over the
 * candidate set keeps the score a property of the node, independent of capacity.
 */
export function taintTolerationScore(intolerable: number, maxIntolerable: number): number {
  return maxIntolerable <= 0 ? MAX_NODE_SCORE : MAX_NODE_SCORE * (1 - intolerable / maxIntolerable);
}

/**
 * Load per core, for `lowest-load`: `(loadAverage + placedCpu / 1000) / cores` with
 * `cores = capacity.cpu / 1000`; the cpu (millicores) of the pods placed on the node since
 * its load was last reported counts as added load, so a batch does not pile onto one host.
 * A node with no cpu capacity has infinite load per core.
 */
export function loadPerCore(loadAverage: number, placedCpuMillis: number, cpuCapacityMillis: number): number {
  if (cpuCapacityMillis <= 0) return Number.POSITIVE_INFINITY;
  return (loadAverage + placedCpuMillis / 1000) / (cpuCapacityMillis / 1000);
}

/** The `lowest-load` score: `100 / (1 + loadPerCore)` — 100 for an idle node, falling as load per core grows. */
export function lowestLoadScore(perCore: number): number {
  return MAX_NODE_SCORE / (1 + Math.max(0, perCore));
}
