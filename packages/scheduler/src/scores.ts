/**
 * The scores — the only scoring code: the formulas (exported) and the score of a node for a
 * pod that the engine ranks by, one part per kube-scheduler score plugin (NodeResourcesFit
 * MostAllocated/LeastAllocated, NodeResourcesBalancedAllocation, TaintToleration) plus
 * lowest load per core. Every part scores 0–100 (kube-scheduler's `MaxNodeScore`); the total
 * is their weighted sum. kube-scheduler computes in integers and truncates; these keep full
 * precision, so near-ties are not collapsed.
 */
import type { CandidateSet } from './candidate-index.js';
import { CPU, type NodeTable } from './node-table.js';
import type { DecideOptions, ResolvedWeights } from './options.js';
import { requestOf, type PodSpec } from './pod-spec.js';

/** The highest score a component gives (kube-scheduler's `framework.MaxNodeScore`). */
export const MAX_NODE_SCORE = 100;

// ---------------------------------------------------------------------------------------
// NodeResourcesFit: most-allocated (binpack) and least-allocated (spread)
//
// Both are functions of one number per node, the weighted free fraction f (0 = full,
// 1 = empty), and of the pod's weighted share r of the node's capacity: for a node the pod
// fits on, most-allocated = 100·(1 − f + r) and least-allocated = 100·(f − r), equal term by
// term to the per-resource forms. The engine computes every resource score this way, so
// that equal f means equal score: the candidate index ranks nodes by f alone.

/** Most-allocated from the free fraction `f` before the pod and the pod's share `r`. */
export function mostAllocatedOfFree(f: number, r: number): number {
  return MAX_NODE_SCORE * (1 - f + r);
}

/** Least-allocated from the free fraction `f` before the pod and the pod's share `r`. */
export function leastAllocatedOfFree(f: number, r: number): number {
  return MAX_NODE_SCORE * (f - r);
}

/**
 * The weighted free fraction after `requested`: `Σ wᵣ · max(0, (capacityᵣ − requestedᵣ) /
 * capacityᵣ) / Σ wᵣ` over the weighted resources whose capacity is not 0; undefined when
 * there are none.
 */
function freeAfter(requested: readonly number[], capacity: readonly number[], weights: readonly number[]): number | undefined {
  let free = 0;
  let weightSum = 0;
  for (let i = 0; i < weights.length; i++) {
    const c = capacity[i] ?? 0;
    const w = weights[i] ?? 0;
    if (c <= 0 || w === 0) continue;
    free += w * Math.max(0, (c - (requested[i] ?? 0)) / c);
    weightSum += w;
  }
  return weightSum === 0 ? undefined : free / weightSum;
}

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
  const f = freeAfter(requested, capacity, weights);
  return f === undefined ? 0 : mostAllocatedOfFree(f, 0);
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
  const f = freeAfter(requested, capacity, weights);
  return f === undefined ? 0 : leastAllocatedOfFree(f, 0);
}

/** What {@link weightedFractions} returns; one object reused by every call (read it before the next). */
interface WeightedFractions {
  /** Whether the node has any weighted resource (capacity > 0); when not, both fractions are 0. */
  weighted: boolean;
  /** `Σ wᵣ · max(0, (capacityᵣ − allocatedᵣ) / capacityᵣ) / Σ wᵣ`: free before the pod (0 = full, 1 = empty). */
  free: number;
  /** `Σ wᵣ · requestᵣ / capacityᵣ / Σ wᵣ`: the pod's share of the node (0 without a pod). */
  share: number;
}
const fractions: WeightedFractions = { weighted: false, free: 0, share: 0 };

/**
 * The node's weighted free fraction and the pod's weighted share of it, in one pass over the
 * weighted resources the node has (capacity > 0). Returns a shared object, not a new one: the
 * scoring loop calls this for every candidate.
 */
function weightedFractions(nodes: NodeTable, slot: number, spec: PodSpec | undefined, weights: ResolvedWeights): WeightedFractions {
  let free = 0;
  let share = 0;
  let weightSum = 0;
  const names = weights.resourceNames;
  for (let j = 0; j < names.length; j++) {
    const d = nodes.dimOf(names[j]!);
    if (d === undefined) continue;
    const c = nodes.capacity[d]![slot]!;
    if (c <= 0) continue;
    const w = weights.resourceWeights[j]!;
    free += w * Math.max(0, (c - nodes.allocated[d]![slot]!) / c);
    if (spec !== undefined) share += (w * requestOf(spec, d)) / c;
    weightSum += w;
  }
  fractions.weighted = weightSum !== 0;
  fractions.free = weightSum === 0 ? 0 : free / weightSum;
  fractions.share = weightSum === 0 ? 0 : share / weightSum;
  return fractions;
}

/** The weighted free fraction of a node before the pod (0 = full, 1 = empty) over the weighted resources it has. */
export function freeFraction(nodes: NodeTable, slot: number, weights: ResolvedWeights): number {
  return weightedFractions(nodes, slot, undefined, weights).free;
}

/** NodeResourcesFit's score of a node with the pod on it: most-allocated (`most`) or least-allocated. */
function resourceScore(nodes: NodeTable, slot: number, spec: PodSpec, weights: ResolvedWeights, most: boolean): number {
  const { weighted, free, share } = weightedFractions(nodes, slot, spec, weights);
  if (!weighted) return 0;
  return most ? mostAllocatedOfFree(free, share) : leastAllocatedOfFree(free, share);
}

// ---------------------------------------------------------------------------------------
// NodeResourcesBalancedAllocation

/** `(1 − σ) · 100`, σ the population standard deviation of the fractions (100 for fewer than two). */
function balancedOfFractions(fractions: readonly number[]): number {
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
  return balancedOfFractions(fractions);
}

function balancedScore(nodes: NodeTable, slot: number, spec: PodSpec, weights: ResolvedWeights): number {
  const fractions: number[] = [];
  for (const name of weights.resourceNames) {
    const d = nodes.dimOf(name);
    if (d === undefined) continue;
    const c = nodes.capacity[d]![slot]!;
    if (c <= 0) continue;
    fractions.push(Math.min(1, (nodes.allocated[d]![slot]! + requestOf(spec, d)) / c));
  }
  return balancedOfFractions(fractions);
}

// ---------------------------------------------------------------------------------------
// TaintToleration

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

// ---------------------------------------------------------------------------------------
// Lowest load (Flotilla's own: `flo lowest-loadaverage` as a score)

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

// ---------------------------------------------------------------------------------------
// The total

/**
 * The score a feasible node gets for a pod, as the README documents: the strategy's score
 * (binpack: most-allocated on a node in use, least-allocated on an empty one — binpack opens
 * the roomiest empty node; spread: least-allocated; lowest-load: load per core), plus the
 * weighted balanced-allocation and taint-toleration scores.
 */
export function nodeScore(
  nodes: NodeTable,
  slot: number,
  spec: PodSpec,
  set: CandidateSet,
  options: DecideOptions,
  inUse: boolean,
): number {
  const w = options.weights;
  let value = 0;
  switch (options.strategy) {
    case 'binpack':
      value = w.strategy * resourceScore(nodes, slot, spec, w, inUse);
      break;
    case 'spread':
      value = w.strategy * resourceScore(nodes, slot, spec, w, false);
      break;
    case 'lowest-load':
      value = w.strategy * lowestLoadScore(loadPerCore(nodes.load[slot]!, nodes.addedCpu[slot]!, nodes.capacity[CPU]![slot]!));
      break;
  }
  if (w.balancedAllocation !== 0) value += w.balancedAllocation * balancedScore(nodes, slot, spec, w);
  if (w.taintToleration !== 0) value += w.taintToleration * taintTolerationScore(set.taintCount.get(slot) ?? 0, set.maxTaintCount);
  return value;
}
