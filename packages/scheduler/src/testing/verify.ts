/**
 * `verifyPlacement`: checks a schedule result against every rule, in the final state —
 * an independent check for tests and benchmarks.
 */
import { podSelectorToSelector, nodeSelectorToSelector } from '../selectors.js';
import { UNSCHEDULABLE_TAINT, findUntoleratedTaint, tolerationsTolerate } from '../taints.js';
import type { Node, Pod, ScheduleResult } from '../types.js';
import { amountsOf, antiAffinityOf, domainOf, requestsOf, spreadOf, spreadSelectorOf } from './reference.js';

/** One broken rule. */
export interface Violation {
  readonly rule:
    | 'exactly-once'
    | 'unknown-node'
    | 'capacity'
    | 'unschedulable'
    | 'taint'
    | 'selector'
    | 'ports'
    | 'anti-affinity'
    | 'spread';
  readonly pod?: string;
  readonly node?: string;
  readonly detail: string;
}

/**
 * Every rule a result must keep, checked on the final state: each pod exactly once; no node
 * over capacity in any dimension; node selectors, taints and cordons respected; host ports
 * unique per node; no two pods in one domain where either one's anti-affinity term selects
 * the other; and, for each spread constraint, max − min of the matching pods over the
 * eligible domains at most maxSkew (this final-state form holds when all pods a constraint
 * counts carry that same constraint, as replicas of one app do).
 */
export function verifyPlacement(nodes: readonly Node[], pods: readonly Pod[], result: ScheduleResult): Violation[] {
  const violations: Violation[] = [];
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const seen = new Map<string, number>();
  for (const name of result.assignments.keys()) seen.set(name, (seen.get(name) ?? 0) + 1);
  for (const u of result.unschedulable) seen.set(u.pod, (seen.get(u.pod) ?? 0) + 1);
  for (const pod of pods) {
    if (seen.get(pod.name) !== 1) violations.push({ rule: 'exactly-once', pod: pod.name, detail: `appears ${seen.get(pod.name) ?? 0} times` });
  }
  if (seen.size !== pods.length) violations.push({ rule: 'exactly-once', detail: `${seen.size} names reported for ${pods.length} pods` });

  const placed: { pod: Pod; node: Node }[] = [];
  for (const pod of pods) {
    const nodeName = result.assignments.get(pod.name);
    if (nodeName === undefined) continue;
    const node = byName.get(nodeName);
    if (node === undefined) {
      violations.push({ rule: 'unknown-node', pod: pod.name, node: nodeName, detail: 'no such node' });
      continue;
    }
    placed.push({ pod, node });
    if (node.unschedulable === true && !tolerationsTolerate(pod.tolerations, UNSCHEDULABLE_TAINT)) {
      violations.push({ rule: 'unschedulable', pod: pod.name, node: node.name, detail: 'node is cordoned' });
    }
    const taint = findUntoleratedTaint(node.taints, pod.tolerations);
    if (taint !== undefined) violations.push({ rule: 'taint', pod: pod.name, node: node.name, detail: `untolerated ${taint.key}` });
    if (!nodeSelectorToSelector(pod.nodeSelector).matches(node.labels ?? {})) {
      violations.push({ rule: 'selector', pod: pod.name, node: node.name, detail: 'node selector does not match' });
    }
  }

  // Capacity and ports per node.
  const used = new Map<Node, Map<string, number>>();
  const ports = new Map<Node, Set<number>>();
  for (const { pod, node } of placed) {
    let u = used.get(node);
    if (u === undefined) used.set(node, (u = amountsOf(node.allocated)));
    for (const [resource, amount] of requestsOf(pod)) u.set(resource, (u.get(resource) ?? 0) + amount);
    let p = ports.get(node);
    if (p === undefined) ports.set(node, (p = new Set()));
    for (const port of pod.hostPorts ?? []) {
      if (p.has(port)) violations.push({ rule: 'ports', pod: pod.name, node: node.name, detail: `host port ${port} used twice` });
      p.add(port);
    }
  }
  for (const [node, u] of used) {
    const capacity = amountsOf(node.capacity);
    const allocatedBefore = amountsOf(node.allocated);
    for (const [resource, amount] of u) {
      // Pre-existing overcommit is not the scheduler's doing: only growth beyond capacity counts.
      if (amount > (capacity.get(resource) ?? 0) && amount !== (allocatedBefore.get(resource) ?? 0)) {
        violations.push({ rule: 'capacity', node: node.name, detail: `${resource}: ${amount} > ${capacity.get(resource) ?? 0}` });
      }
    }
  }

  // Anti-affinity, both ways, by domain.
  const byDomain = new Map<string, Map<string, { pod: Pod; node: Node }[]>>();
  const domainGroups = (topologyKey: string): Map<string, { pod: Pod; node: Node }[]> => {
    let groups = byDomain.get(topologyKey);
    if (groups === undefined) {
      groups = new Map();
      byDomain.set(topologyKey, groups);
      for (const entry of placed) {
        const d = domainOf(entry.node, topologyKey);
        if (d === undefined) continue;
        let list = groups.get(d);
        if (list === undefined) groups.set(d, (list = []));
        list.push(entry);
      }
    }
    return groups;
  };
  for (const owner of placed) {
    for (const term of antiAffinityOf(owner.pod)) {
      const domain = domainOf(owner.node, term.topologyKey);
      if (domain === undefined) continue;
      const selector = podSelectorToSelector(term.labelSelector);
      for (const other of domainGroups(term.topologyKey).get(domain) ?? []) {
        if (other === owner) continue;
        if (selector.matches(other.pod.labels ?? {})) {
          violations.push({
            rule: 'anti-affinity',
            pod: other.pod.name,
            node: other.node.name,
            detail: `shares ${term.topologyKey}=${domain} with ${owner.pod.name}, whose anti-affinity selects it`,
          });
        }
      }
    }
  }

  // Spread, final state.
  const checked = new Set<string>();
  for (const { pod, node } of placed) {
    for (const constraint of spreadOf(pod)) {
      const domain = domainOf(node, constraint.topologyKey);
      if (domain === undefined) {
        violations.push({ rule: 'spread', pod: pod.name, node: node.name, detail: `node lacks ${constraint.topologyKey}` });
        continue;
      }
      const selector = spreadSelectorOf(pod, constraint);
      const nodeSelector = nodeSelectorToSelector(pod.nodeSelector);
      const key = `${selector.toString()}|${constraint.topologyKey}|${nodeSelector.toString()}|${constraint.maxSkew}`;
      if (checked.has(key)) continue;
      checked.add(key);
      const counts = new Map<string, number>();
      for (const n of nodes) {
        if (!nodeSelector.matches(n.labels ?? {})) continue;
        const d = domainOf(n, constraint.topologyKey);
        if (d !== undefined) counts.set(d, 0);
      }
      for (const other of placed) {
        const d = domainOf(other.node, constraint.topologyKey);
        if (d !== undefined && counts.has(d) && selector.matches(other.pod.labels ?? {})) counts.set(d, counts.get(d)! + 1);
      }
      const values = [...counts.values()];
      const skew = Math.max(...values) - Math.min(...values);
      if (skew > constraint.maxSkew) {
        violations.push({ rule: 'spread', pod: pod.name, detail: `skew ${skew} > maxSkew ${constraint.maxSkew} over ${constraint.topologyKey}` });
      }
    }
  }
  return violations;
}
