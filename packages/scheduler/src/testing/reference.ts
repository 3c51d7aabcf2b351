/**
 * A reference model of the filters, written for clarity rather than speed: plain objects,
 * every pod and node looked at each time. Tests and benchmarks check the scheduler against
 * it.
 */
import type { Selector } from '@flotilla/labels';
import { toBaseUnits } from '../quantity.js';
import { nodeSelectorToSelector, podSelectorToSelector } from '../selectors.js';
import { UNSCHEDULABLE_TAINT, findUntoleratedTaint, tolerationsTolerate } from '../taints.js';
import { HOSTNAME_KEY } from '../topology.js';
import type { AntiAffinityTerm, Node, Pod, SpreadConstraint } from '../types.js';
import { selectorFromSet } from '@flotilla/labels';

/** Which filter rejected a pod on a node. */
export type FilterFailure = 'unschedulable' | 'taint' | 'selector' | 'ports' | 'resources' | 'spread' | 'existing-anti-affinity' | 'anti-affinity';

function toList<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** The requests of a pod in base units (amounts > 0). */
export function requestsOf(pod: Pod): Map<string, number> {
  const out = new Map<string, number>();
  for (const [resource, value] of Object.entries(pod.requests ?? {})) {
    if (value === undefined) continue;
    const amount = toBaseUnits(resource, value);
    if (amount > 0) out.set(resource, amount);
  }
  return out;
}

/** A node's capacity or allocation in base units. */
export function amountsOf(list: Readonly<Record<string, number | string | undefined>> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const [resource, value] of Object.entries(list ?? {})) {
    if (value !== undefined) out.set(resource, toBaseUnits(resource, value));
  }
  return out;
}

/** The domain of a node for a topology key (the node name stands in for a missing hostname label). */
export function domainOf(node: Node, topologyKey: string): string | undefined {
  const value = node.labels?.[topologyKey];
  if (value === undefined && topologyKey === HOSTNAME_KEY) return node.name;
  return value;
}

/** The selector a spread constraint counts with (default: the pod's `app` label). */
export function spreadSelectorOf(pod: Pod, constraint: SpreadConstraint): Selector {
  if (constraint.labelSelector !== undefined) return podSelectorToSelector(constraint.labelSelector);
  const app = pod.labels?.app;
  return app !== undefined
    ? selectorFromSet({ app })
    : podSelectorToSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] });
}

/** Spread constraints of a pod. */
export function spreadOf(pod: Pod): readonly SpreadConstraint[] {
  return toList(pod.spread);
}

/** Anti-affinity terms of a pod. */
export function antiAffinityOf(pod: Pod): readonly AntiAffinityTerm[] {
  return toList(pod.antiAffinity);
}

/**
 * A cluster of nodes and placed pods, with the filters spelled out one by one. Spread uses
 * kube-scheduler's per-placement rule: `count(domain) + self − min(count over eligible
 * domains) ≤ maxSkew`.
 */
export class ReferenceCluster {
  readonly nodes: readonly Node[];
  readonly placed: { pod: Pod; node: Node }[] = [];

  constructor(nodes: readonly Node[]) {
    this.nodes = nodes;
  }

  node(name: string): Node {
    const node = this.nodes.find((n) => n.name === name);
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }

  /** Free amount of a resource on a node. */
  free(node: Node, resource: string): number {
    let used = amountsOf(node.allocated).get(resource) ?? 0;
    for (const p of this.placed) if (p.node === node) used += requestsOf(p.pod).get(resource) ?? 0;
    return (amountsOf(node.capacity).get(resource) ?? 0) - used;
  }

  /** The first filter that rejects `pod` on `node`, or undefined when it fits. */
  fits(pod: Pod, node: Node): FilterFailure | undefined {
    if (node.unschedulable === true && !tolerationsTolerate(pod.tolerations, UNSCHEDULABLE_TAINT)) return 'unschedulable';
    if (findUntoleratedTaint(node.taints, pod.tolerations) !== undefined) return 'taint';
    const selector = nodeSelectorToSelector(pod.nodeSelector);
    if (!selector.matches(node.labels ?? {})) return 'selector';
    const ports = pod.hostPorts ?? [];
    for (const p of this.placed) {
      if (p.node !== node) continue;
      if ((p.pod.hostPorts ?? []).some((port) => ports.includes(port))) return 'ports';
    }
    for (const [resource, amount] of requestsOf(pod)) {
      if (this.free(node, resource) < amount) return 'resources';
    }
    for (const constraint of spreadOf(pod)) {
      const domain = domainOf(node, constraint.topologyKey);
      if (domain === undefined) return 'spread';
      const countSelector = spreadSelectorOf(pod, constraint);
      const counts = new Map<string, number>();
      for (const n of this.nodes) {
        if (!selector.matches(n.labels ?? {})) continue;
        const d = domainOf(n, constraint.topologyKey);
        if (d !== undefined) counts.set(d, 0);
      }
      for (const p of this.placed) {
        const d = domainOf(p.node, constraint.topologyKey);
        if (d !== undefined && counts.has(d) && countSelector.matches(p.pod.labels ?? {})) counts.set(d, counts.get(d)! + 1);
      }
      const min = counts.size === 0 ? 0 : Math.min(...counts.values());
      const self = countSelector.matches(pod.labels ?? {}) ? 1 : 0;
      if ((counts.get(domain) ?? 0) + self - min > constraint.maxSkew) return 'spread';
    }
    for (const p of this.placed) {
      for (const term of antiAffinityOf(p.pod)) {
        const d = domainOf(node, term.topologyKey);
        if (d === undefined || domainOf(p.node, term.topologyKey) !== d) continue;
        if (podSelectorToSelector(term.labelSelector).matches(pod.labels ?? {})) return 'existing-anti-affinity';
      }
    }
    for (const term of antiAffinityOf(pod)) {
      const d = domainOf(node, term.topologyKey);
      if (d === undefined) continue;
      const termSelector = podSelectorToSelector(term.labelSelector);
      for (const p of this.placed) {
        if (domainOf(p.node, term.topologyKey) === d && termSelector.matches(p.pod.labels ?? {})) return 'anti-affinity';
      }
    }
    return undefined;
  }

  /** Does `pod` fit on any node? */
  fitsAnywhere(pod: Pod): boolean {
    return this.nodes.some((node) => this.fits(pod, node) === undefined);
  }

  place(pod: Pod, node: Node): void {
    this.placed.push({ pod, node });
  }
}
