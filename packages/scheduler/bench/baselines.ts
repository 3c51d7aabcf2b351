/**
 * The benchmark's baselines, written plainly:
 * - `naiveSchedule`: a Kubernetes-style scheduler — for every pod (in input order) every
 *   node is filtered and every feasible node scored (MostAllocated + TaintToleration), the
 *   best wins; per-pod precomputation (selectors, spread minimums) as kube-scheduler's
 *   PreFilter does.
 * - `ffdSchedule`: first-fit decreasing — pods sorted by dominant share, largest first;
 *   each goes to the first node (in input order) that passes every filter, cheapest test
 *   (resources, in typed arrays) first, scanning from the first node every time (textbook
 *   FFD). With `cursor: true`, pods of one type resume their scan where the previous pod of
 *   that type landed (nodes before it had no room for the type and have less now) — the
 *   same result, found faster; reported as a second, stronger baseline.
 * Both honour every filter, so their results are comparable with the scheduler's.
 */
import type { Selector } from '@flotilla/labels';
import {
  UNSCHEDULABLE_TAINT,
  countIntolerablePreferNoSchedule,
  findUntoleratedTaint,
  nodeSelectorToSelector,
  podSelectorToSelector,
  tolerationsTolerate,
  type Node,
  type Pod,
  type ScheduleResult,
} from '@flotilla/scheduler';
import { antiAffinityOf, domainOf, spreadOf, spreadSelectorOf } from '@flotilla/scheduler/testing';

interface Tracker {
  readonly selector: Selector;
  readonly key: string;
  readonly counts: Map<string, number>;
}

interface Compiled {
  pod: Pod;
  cpu: number;
  memory: number;
  selector: Selector;
  terms: Tracker[];
  spread: { tracker: Tracker; maxSkew: number; self: number; eligible: string[] }[];
  ports: readonly number[];
}

class BaselineCluster {
  readonly nodes: readonly Node[];
  readonly freeCpu: Float64Array;
  readonly freeMemory: Float64Array;
  readonly capCpu: Float64Array;
  readonly capMemory: Float64Array;
  readonly ports: Set<number>[];
  /** Pods counted per domain for every selector the batch uses (kube-scheduler recounts these in PreFilter). */
  readonly trackers = new Map<string, Tracker>();
  /** Anti-affinity terms of placed pods: topology key → domain → term selectors. */
  readonly owners = new Map<string, Map<string, Selector[]>>();

  constructor(nodes: readonly Node[]) {
    this.nodes = nodes;
    const n = nodes.length;
    this.freeCpu = new Float64Array(n);
    this.freeMemory = new Float64Array(n);
    this.capCpu = new Float64Array(n);
    this.capMemory = new Float64Array(n);
    this.ports = nodes.map(() => new Set());
    nodes.forEach((node, i) => {
      this.capCpu[i] = node.capacity.cpu as number;
      this.capMemory[i] = node.capacity.memory as number;
      this.freeCpu[i] = this.capCpu[i] - ((node.allocated?.cpu as number | undefined) ?? 0);
      this.freeMemory[i] = this.capMemory[i] - ((node.allocated?.memory as number | undefined) ?? 0);
    });
  }

  #tracker(selector: Selector, key: string): Tracker {
    const id = `${selector.toString()}|${key}`;
    let tracker = this.trackers.get(id);
    if (tracker === undefined) this.trackers.set(id, (tracker = { selector, key, counts: new Map() }));
    return tracker;
  }

  /** Registers the batch's selectors before placing anything. */
  registerKeys(pods: readonly Pod[]): void {
    for (const pod of pods) if (pod.antiAffinity !== undefined || pod.spread !== undefined) this.compile(pod);
  }

  compile(pod: Pod): Compiled {
    const selector = nodeSelectorToSelector(pod.nodeSelector);
    return {
      pod,
      cpu: (pod.requests.cpu as number | undefined) ?? 0,
      memory: (pod.requests.memory as number | undefined) ?? 0,
      selector,
      terms: antiAffinityOf(pod).map((t) => this.#tracker(podSelectorToSelector(t.labelSelector), t.topologyKey)),
      spread: spreadOf(pod).map((c) => {
        const eligible = new Set<string>();
        for (const node of this.nodes) {
          if (!selector.matches(node.labels ?? {})) continue;
          const d = domainOf(node, c.topologyKey);
          if (d !== undefined) eligible.add(d);
        }
        const s = spreadSelectorOf(pod, c);
        return { tracker: this.#tracker(s, c.topologyKey), maxSkew: c.maxSkew, self: s.matches(pod.labels ?? {}) ? 1 : 0, eligible: [...eligible] };
      }),
      ports: pod.hostPorts ?? [],
    };
  }

  spreadMins(c: Compiled): number[] {
    return c.spread.map((rule) => {
      let min = Infinity;
      for (const d of rule.eligible) min = Math.min(min, rule.tracker.counts.get(d) ?? 0);
      return min === Infinity ? 0 : min;
    });
  }

  fits(c: Compiled, i: number, mins: number[]): boolean {
    // Cheapest test first: most nodes are rejected by resources.
    if (c.cpu > this.freeCpu[i]! || c.memory > this.freeMemory[i]!) return false;
    const node = this.nodes[i]!;
    const pod = c.pod;
    if (node.unschedulable === true && !tolerationsTolerate(pod.tolerations, UNSCHEDULABLE_TAINT)) return false;
    if (node.taints !== undefined && findUntoleratedTaint(node.taints, pod.tolerations) !== undefined) return false;
    if (!c.selector.matches(node.labels ?? {})) return false;
    for (const port of c.ports) if (this.ports[i]!.has(port)) return false;
    for (let s = 0; s < c.spread.length; s++) {
      const rule = c.spread[s]!;
      const d = domainOf(node, rule.tracker.key);
      if (d === undefined) return false;
      if ((rule.tracker.counts.get(d) ?? 0) + rule.self - mins[s]! > rule.maxSkew) return false;
    }
    for (const [key, domains] of this.owners) {
      const d = domainOf(node, key);
      if (d === undefined) continue;
      for (const selector of domains.get(d) ?? []) if (selector.matches(pod.labels ?? {})) return false;
    }
    for (const term of c.terms) {
      const d = domainOf(node, term.key);
      if (d !== undefined && (term.counts.get(d) ?? 0) > 0) return false;
    }
    return true;
  }

  place(c: Compiled, i: number): void {
    const node = this.nodes[i]!;
    this.freeCpu[i]! -= c.cpu;
    this.freeMemory[i]! -= c.memory;
    for (const port of c.ports) this.ports[i]!.add(port);
    for (const tracker of this.#matching(c.pod)) {
      const d = domainOf(node, tracker.key);
      if (d !== undefined) tracker.counts.set(d, (tracker.counts.get(d) ?? 0) + 1);
    }
    for (const term of c.terms) {
      const d = domainOf(node, term.key);
      if (d === undefined) continue;
      let domains = this.owners.get(term.key);
      if (domains === undefined) this.owners.set(term.key, (domains = new Map()));
      let list = domains.get(d);
      if (list === undefined) domains.set(d, (list = []));
      list.push(term.selector);
    }
  }

  readonly #matchCache = new Map<string, Tracker[]>();
  /** The trackers whose selector matches a pod's labels (cached by label set). */
  #matching(pod: Pod): Tracker[] {
    if (this.trackers.size === 0) return [];
    const key = JSON.stringify(pod.labels ?? {});
    let list = this.#matchCache.get(key);
    if (list === undefined) {
      list = [...this.trackers.values()].filter((t) => t.selector.matches(pod.labels ?? {}));
      this.#matchCache.set(key, list);
    }
    return list;
  }

  /** MostAllocated (cpu, memory) + TaintToleration, as kube-scheduler scores. */
  score(c: Compiled, i: number, maxTaints: number): number {
    const most =
      (100 *
        ((this.capCpu[i]! - this.freeCpu[i]! + c.cpu) / this.capCpu[i]! +
          (this.capMemory[i]! - this.freeMemory[i]! + c.memory) / this.capMemory[i]!)) /
      2;
    const taints = countIntolerablePreferNoSchedule(this.nodes[i]!.taints, c.pod.tolerations);
    return most + (maxTaints === 0 ? 100 : 100 * (1 - taints / maxTaints));
  }
}

function finish(assignments: Map<string, string>, failed: string[]): ScheduleResult {
  return { assignments, unschedulable: failed.map((pod) => ({ pod, reasons: [], message: '' })) };
}

/** Kubernetes-style: each pod in input order, every node filtered and scored. */
export function naiveSchedule(nodes: readonly Node[], pods: readonly Pod[]): ScheduleResult {
  const cluster = new BaselineCluster(nodes);
  cluster.registerKeys(pods);
  const assignments = new Map<string, string>();
  const failed: string[] = [];
  for (const pod of pods) {
    const c = cluster.compile(pod);
    const mins = cluster.spreadMins(c);
    let maxTaints = 0;
    for (const node of nodes) maxTaints = Math.max(maxTaints, countIntolerablePreferNoSchedule(node.taints, pod.tolerations));
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < nodes.length; i++) {
      if (!cluster.fits(c, i, mins)) continue;
      const s = cluster.score(c, i, maxTaints);
      if (s > bestScore) {
        best = i;
        bestScore = s;
      }
    }
    if (best < 0) failed.push(pod.name);
    else {
      cluster.place(c, best);
      assignments.set(pod.name, nodes[best]!.name);
    }
  }
  return finish(assignments, failed);
}

/** First-fit decreasing by dominant share. */
export function ffdSchedule(nodes: readonly Node[], pods: readonly Pod[], options: { cursor?: boolean } = {}): ScheduleResult {
  const useCursor = options.cursor === true;
  const cluster = new BaselineCluster(nodes);
  cluster.registerKeys(pods);
  let totalCpu = 0;
  let totalMemory = 0;
  for (const node of nodes) {
    totalCpu += node.capacity.cpu as number;
    totalMemory += node.capacity.memory as number;
  }
  const share = (pod: Pod): number =>
    Math.max(((pod.requests.cpu as number | undefined) ?? 0) / totalCpu, ((pod.requests.memory as number | undefined) ?? 0) / totalMemory);
  const order = pods.map((pod, index) => ({ pod, index, share: share(pod) }));
  order.sort((a, b) => b.share - a.share || a.index - b.index);
  const assignments = new Map<string, string>();
  const failed: string[] = [];
  // Pods of one type (same requests, node selector and tolerations objects; no anti-affinity,
  // spread or ports) resume their scan where the previous one of the type landed: nodes
  // before it had no room for that type then and have less now, so the result is FFD's.
  const ids = new Map<object, number>();
  const idOf = (o: object | undefined): number => {
    if (o === undefined) return 0;
    let id = ids.get(o);
    if (id === undefined) ids.set(o, (id = ids.size + 1));
    return id;
  };
  const cursor = new Map<string, number>();
  const compiled = new Map<string, ReturnType<BaselineCluster['compile']>>();
  for (const { pod } of order) {
    const simple = pod.antiAffinity === undefined && pod.spread === undefined && pod.hostPorts === undefined;
    const type = simple ? `${pod.requests.cpu as number}|${pod.requests.memory}|${idOf(pod.nodeSelector)}|${idOf(pod.tolerations)}` : undefined;
    let c = type === undefined ? undefined : compiled.get(type);
    if (c === undefined) {
      c = cluster.compile(pod);
      if (type !== undefined) compiled.set(type, c);
    } else {
      c = { ...c, pod };
    }
    const start = type === undefined || !useCursor ? 0 : (cursor.get(type) ?? 0);
    if (start < 0) {
      failed.push(pod.name);
      continue;
    }
    const mins = cluster.spreadMins(c);
    let placed = -1;
    for (let i = start; i < nodes.length; i++) {
      if (cluster.fits(c, i, mins)) {
        placed = i;
        break;
      }
    }
    if (placed < 0) {
      failed.push(pod.name);
      if (type !== undefined) cursor.set(type, -1);
    } else {
      cluster.place(c, placed);
      assignments.set(pod.name, nodes[placed]!.name);
      if (type !== undefined) cursor.set(type, placed);
    }
  }
  return finish(assignments, failed);
}
