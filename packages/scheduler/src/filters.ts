/**
 * The filters, one function per kube-scheduler filter plugin, in kube-scheduler's order (the
 * order decides which reason a node reports): NodeUnschedulable, TaintToleration,
 * NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread, InterPodAffinity.
 *
 * The first three depend only on the node and the pod's template, so the candidate index
 * applies them once per candidate set; the others are asked per decision.
 */
import type { NodeTable } from './node-table.js';
import type { PodSpec } from './pod-spec.js';
import {
  REASON_ANTI_AFFINITY,
  REASON_EXISTING_ANTI_AFFINITY,
  REASON_HOST_PORTS,
  REASON_NODE_SELECTOR,
  REASON_SPREAD,
  REASON_SPREAD_MISSING_LABEL,
  REASON_UNSCHEDULABLE,
  fitErrorMessage,
  insufficientReason,
  reasonHistogram,
  untoleratedTaintReason,
} from './reasons.js';
import { findUntoleratedTaint } from './taints.js';
import { domainHasAny } from './topology.js';
import type { Taint } from './types.js';

/** The spread minimums of a pod without spread constraints. */
export const NO_SPREAD_MINIMUMS: number[] = [];

/** NodeUnschedulable: a cordoned node takes only pods that tolerate `node.kubernetes.io/unschedulable:NoSchedule`. */
export function nodeUnschedulable(nodes: NodeTable, slot: number, spec: PodSpec): boolean {
  return !nodes.cordoned[slot] || spec.toleratesCordon;
}

/** TaintToleration: the node's first NoSchedule/NoExecute taint the pod does not tolerate, or undefined. */
export function taintToleration(nodes: NodeTable, slot: number, spec: PodSpec): Taint | undefined {
  return findUntoleratedTaint(nodes.taints[slot], spec.tolerations);
}

/** NodeAffinity: the node's labels match the pod's node selector. */
export function nodeAffinity(nodes: NodeTable, slot: number, spec: PodSpec): boolean {
  return spec.selector.matches(nodes.labels[slot] ?? {});
}

/** NodePorts: none of the pod's host ports is in use on the node. */
export function nodePorts(nodes: NodeTable, slot: number, spec: PodSpec): boolean {
  if (spec.ports === undefined) return true;
  const used = nodes.ports[slot];
  if (used !== undefined) for (const port of spec.ports) if (used.has(port)) return false;
  return true;
}

/** NodeResourcesFit: `allocated + request ≤ capacity` on every requested dimension. */
export function nodeResourcesFit(nodes: NodeTable, slot: number, spec: PodSpec): boolean {
  const dims = spec.dims;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    if (nodes.allocated[d]![slot]! + spec.amounts[i]! > nodes.capacity[d]![slot]!) return false;
  }
  return true;
}

/** NodeResourcesFit's reasons: `Insufficient <resource>` for every dimension without room. */
export function insufficientResources(nodes: NodeTable, slot: number, spec: PodSpec): string[] {
  const reasons: string[] = [];
  for (let i = 0; i < spec.dims.length; i++) {
    const d = spec.dims[i]!;
    if (nodes.allocated[d]![slot]! + spec.amounts[i]! > nodes.capacity[d]![slot]!) reasons.push(insufficientReason(nodes.dimNames[d]!));
  }
  return reasons;
}

/**
 * PodTopologySpread's pre-filter: per constraint, the fewest matching pods in any eligible
 * domain.
 */
export function spreadMinimums(spec: PodSpec): number[] {
  if (spec.spread.length === 0) return NO_SPREAD_MINIMUMS;
  const mins: number[] = [];
  for (const rule of spec.spread) {
    let min = Number.POSITIVE_INFINITY;
    const counts = rule.tracker.counts;
    for (const domain of rule.eligible) {
      const c = counts.get(domain) ?? 0;
      if (c < min) min = c;
    }
    mins.push(min === Number.POSITIVE_INFINITY ? 0 : min);
  }
  return mins;
}

/**
 * PodTopologySpread: for each constraint, the node has the topology key and
 * `count(domain) + self − min ≤ maxSkew`. Returns the reason it fails, or undefined.
 */
export function podTopologySpread(slot: number, spec: PodSpec, mins: readonly number[]): string | undefined {
  for (let i = 0; i < spec.spread.length; i++) {
    const rule = spec.spread[i]!;
    const domain = rule.tracker.topology.ofNode[slot]!;
    if (domain < 0) return REASON_SPREAD_MISSING_LABEL;
    if ((rule.tracker.counts.get(domain) ?? 0) + rule.selfMatch - mins[i]! > rule.maxSkew) return REASON_SPREAD;
  }
  return undefined;
}

/**
 * InterPodAffinity (required anti-affinity, both directions): no pod in the node's domain
 * has a term selecting this pod, and none is selected by a term of this pod. Returns the
 * reason it fails, or undefined.
 */
export function interPodAffinity(slot: number, spec: PodSpec): string | undefined {
  for (const tracker of spec.repelledBy) if (domainHasAny(tracker, slot)) return REASON_EXISTING_ANTI_AFFINITY;
  for (const tracker of spec.antiAffinityTerms) if (domainHasAny(tracker, slot)) return REASON_ANTI_AFFINITY;
  return undefined;
}

/**
 * The filters whose answer changes as pods are placed — NodePorts, PodTopologySpread,
 * InterPodAffinity — for a node that passed the others. `mins` from {@link spreadMinimums}.
 */
export function placementFiltersPass(nodes: NodeTable, slot: number, spec: PodSpec, mins: readonly number[]): boolean {
  return nodePorts(nodes, slot, spec) && podTopologySpread(slot, spec, mins) === undefined && interPodAffinity(slot, spec) === undefined;
}

/**
 * Why a pod fits nowhere, in kube-scheduler's words: each live node contributes its first
 * failing filter (NodeResourcesFit every insufficient resource), counted into a histogram.
 */
export function diagnose(nodes: NodeTable, spec: PodSpec, mins: readonly number[]): { reasons: string[]; message: string } {
  const counts = new Map<string, number>();
  const add = (reason: string): void => {
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  };
  for (let slot = 0; slot < nodes.slots; slot++) {
    if (!nodes.alive[slot]) continue;
    if (!nodeUnschedulable(nodes, slot, spec)) {
      add(REASON_UNSCHEDULABLE);
      continue;
    }
    const taint = taintToleration(nodes, slot, spec);
    if (taint !== undefined) {
      add(untoleratedTaintReason(taint.key, taint.value));
      continue;
    }
    if (!nodeAffinity(nodes, slot, spec)) {
      add(REASON_NODE_SELECTOR);
      continue;
    }
    if (!nodePorts(nodes, slot, spec)) {
      add(REASON_HOST_PORTS);
      continue;
    }
    const insufficient = insufficientResources(nodes, slot, spec);
    if (insufficient.length > 0) {
      for (const reason of insufficient) add(reason);
      continue;
    }
    const reason = podTopologySpread(slot, spec, mins) ?? interPodAffinity(slot, spec);
    if (reason !== undefined) add(reason);
  }
  const reasons = reasonHistogram(counts);
  return { reasons, message: fitErrorMessage(nodes.liveNodes, reasons) };
}
