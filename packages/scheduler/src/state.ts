/**
 * `ClusterState`: a live cluster for a controller — nodes and the pods bound to them — and
 * the place where a decision is made. The parts live in their own files: the node table
 * (node-table.ts), topology trackers (topology.ts), compiled pods (pod-spec.ts), the filters
 * (filters.ts), the scores (scores.ts) and the candidate index (candidate-index.ts).
 */
import { CandidateIndex, type CandidateSet, type SetAside } from './candidate-index.js';
import { SchedulerError, describeReceived } from './errors.js';
import { diagnose, nodeResourcesFit, placementFiltersPass, spreadMinimums } from './filters.js';
import { NodeTable, checkNode } from './node-table.js';
import type { DecideOptions } from './options.js';
import { PodCompiler, type PodRecord, type PodSpec } from './pod-spec.js';
import { nodeScore } from './scores.js';
import { Trackers } from './topology.js';
import type { Node, Pod } from './types.js';

export { HOSTNAME_KEY } from './topology.js';

/** Result of one placement decision. */
export type Decision = { readonly node: number } | { readonly node: -1; readonly reasons: string[]; readonly message: string };

/**
 * A live cluster for a controller: nodes and the pods bound to them, updated incrementally
 * (`addNode`, `updateNode`, `removeNode`, `addPod`, `removePod`, `setLoadAverage`), so that
 * `scheduleOne(pod, state)` does not rebuild the world for each pod.
 *
 * Guarantees: the state never holds more than a node's capacity through `scheduleOne` (a
 * pod added with `addPod` is taken as bound, as Kubernetes takes a bound pod, even if it
 * overcommits the node); every index answers exactly what scoring every node would; node
 * order (for ties) is the order nodes were added. Node changes drop the candidate-set
 * indexes, which are rebuilt on the next decision (O(nodes)); pod changes update them in
 * O(candidate sets containing the node).
 */
export class ClusterState {
  readonly #nodes = new NodeTable();
  /** Pods bound through addPod/scheduleOne. */
  readonly #pods = new Map<string, PodRecord>();
  /** The names of the pods bound to each node slot, so a node's pods are found without a pass over every pod. */
  readonly #podsOnSlot = new Map<number, Set<string>>();
  readonly #trackers = new Trackers(this.#nodes, () => this.#pods.values());
  readonly #compiler = new PodCompiler(this.#nodes, this.#trackers);
  readonly #index = new CandidateIndex(this.#nodes);

  /** Creates a state holding `nodes` (in this order). */
  constructor(nodes: Iterable<Node> = []) {
    this.#nodes.onGrow = (size) => this.#trackers.grow(size);
    for (const node of nodes) this.addNode(node);
  }

  /** Number of nodes. */
  get nodeCount(): number {
    return this.#nodes.liveNodes;
  }

  /** Number of pods bound through `addPod` or `scheduleOne`. */
  get podCount(): number {
    return this.#pods.size;
  }

  /** Is there a node called `name`? */
  hasNode(name: string): boolean {
    return this.#nodes.slotOf(name) !== undefined;
  }

  /** Is a pod called `name` bound? */
  hasPod(name: string): boolean {
    return this.#pods.has(name);
  }

  /** The node a bound pod runs on, or `undefined`. */
  nodeOf(podName: string): string | undefined {
    const record = this.#pods.get(podName);
    return record === undefined ? undefined : this.#nodes.names[record.slot];
  }

  /** The node names, in the order they were added. */
  nodeNames(): string[] {
    const nodes = this.#nodes;
    const names: string[] = [];
    for (let slot = 0; slot < nodes.slots; slot++) if (nodes.alive[slot]) names.push(nodes.names[slot]!);
    return names;
  }

  /** What is allocated on a node, in base units, by resource (dimensions with capacity or allocation). */
  allocated(nodeName: string): Record<string, number> {
    const nodes = this.#nodes;
    const slot = nodes.slotOrThrow(nodeName);
    const result: Record<string, number> = {};
    for (let d = 0; d < nodes.dimNames.length; d++) {
      const a = nodes.allocated[d]![slot]!;
      if (a !== 0 || nodes.capacity[d]![slot]! !== 0) result[nodes.dimNames[d]!] = a;
    }
    return result;
  }

  /** A node's capacity in base units. */
  capacity(nodeName: string): Record<string, number> {
    const nodes = this.#nodes;
    const slot = nodes.slotOrThrow(nodeName);
    const result: Record<string, number> = {};
    for (let d = 0; d < nodes.dimNames.length; d++) {
      const c = nodes.capacity[d]![slot]!;
      if (c !== 0 || d < 2) result[nodes.dimNames[d]!] = c;
    }
    return result;
  }

  // -------------------------------------------------------------------------------------
  // Nodes

  /**
   * Adds a node.
   * @throws SchedulerError `duplicate-node` when a node of that name exists; `invalid-node`
   *   or `invalid-quantity` for a malformed node.
   */
  addNode(node: Node): void {
    const slot = this.#nodes.add(node);
    this.#nodeWritten(slot);
  }

  /**
   * Replaces a node's labels, taints, capacity, allocation, load and cordon, keeping its
   * bound pods. `allocated` is what the scheduler does not know about, added to its pods.
   */
  updateNode(node: Node): void {
    const nodes = this.#nodes;
    const name = checkNode(node);
    const slot = nodes.slotOrThrow(name);
    // Keep the pods' share of the allocation.
    const podShare = nodes.dimNames.map(() => 0);
    const bound = this.#recordsOn(slot);
    for (const record of bound) {
      for (let i = 0; i < record.spec.dims.length; i++) podShare[record.spec.dims[i]!]! += record.spec.amounts[i]!;
    }
    for (const record of bound) {
      this.refresh(record.spec);
      for (const tracker of record.spec.countedIn) this.#trackers.count(tracker, slot, -1);
      for (const tracker of record.spec.antiAffinityOwners) this.#trackers.count(tracker, slot, -1);
    }
    nodes.labelIndex.remove(slot);
    nodes.write(slot, node, false);
    this.#nodeWritten(slot);
    for (let d = 0; d < podShare.length; d++) nodes.allocated[d]![slot]! += podShare[d]!;
    for (const record of bound) {
      for (const tracker of record.spec.countedIn) this.#trackers.count(tracker, slot, 1);
      for (const tracker of record.spec.antiAffinityOwners) this.#trackers.count(tracker, slot, 1);
    }
  }

  /** Removes a node and the pods bound to it; returns the names of those pods. */
  removeNode(name: string): string[] {
    const slot = this.#nodes.slotOrThrow(name);
    const evicted: string[] = [];
    for (const record of this.#recordsOn(slot)) {
      this.removePod(record.name);
      evicted.push(record.name);
    }
    this.#podsOnSlot.delete(slot);
    this.#nodes.remove(slot);
    this.#nodesChanged();
    this.#trackers.nodeRemoved(slot);
    return evicted;
  }

  /** Sets a node's 1-minute load average; the cpu placed on it since the last report stops counting as added load. */
  setLoadAverage(nodeName: string, loadAverage: number): void {
    const slot = this.#nodes.slotOrThrow(nodeName);
    if (typeof loadAverage !== 'number' || !Number.isFinite(loadAverage) || loadAverage < 0) {
      throw new TypeError(`Expected loadAverage as a finite number ≥ 0, received ${describeReceived(loadAverage)}`);
    }
    this.#nodes.load[slot] = loadAverage;
    this.#nodes.addedCpu[slot] = 0;
  }

  /** The records of the pods bound to a slot, in the order they were bound (a copy: safe to remove while iterating). */
  #recordsOn(slot: number): PodRecord[] {
    const names = this.#podsOnSlot.get(slot);
    return names === undefined ? [] : [...names].map((name) => this.#pods.get(name)!);
  }

  #nodeWritten(slot: number): void {
    this.#trackers.nodeWritten(slot);
    this.#nodesChanged();
  }

  #nodesChanged(): void {
    this.#index.invalidate();
    this.#trackers.nodesChanged();
  }

  // -------------------------------------------------------------------------------------
  // Pods

  /**
   * Compiles a pod: quantities to base units, selectors parsed, its anti-affinity terms and
   * spread constraints registered for counting.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  compile(pod: Pod): PodSpec {
    return this.#compiler.compile(pod);
  }

  /**
   * Brings a compiled pod up to date with trackers registered since it was compiled.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  refresh(spec: PodSpec): void {
    this.#compiler.refresh(spec);
  }

  /**
   * The label keys that decide which trackers a pod's labels meet (no other label matters).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  trackedLabelKeys(): string[] {
    return this.#trackers.labelKeys();
  }

  /**
   * Are any pods counted for anti-affinity or spread (so pod labels matter)?
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  get tracksLabels(): boolean {
    return this.#trackers.any;
  }

  /**
   * Binds a pod to a node (a pod the scheduler did not place, or one it did elsewhere).
   * @throws SchedulerError `duplicate-pod`, `unknown-node`, or for a malformed pod.
   */
  addPod(pod: Pod, nodeName: string): void {
    const slot = this.#nodes.slotOrThrow(nodeName);
    if (this.#pods.has(pod.name)) throw new SchedulerError('duplicate-pod', `pod ${JSON.stringify(pod.name)} is already bound`);
    const spec = this.compile(pod);
    this.bind(pod.name, spec, slot);
  }

  /**
   * Binds a compiled pod (internal).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  bind(name: string, spec: PodSpec, slot: number): void {
    this.commit(slot, spec, 1);
    this.#pods.set(name, { name, slot, spec });
    let onSlot = this.#podsOnSlot.get(slot);
    if (onSlot === undefined) this.#podsOnSlot.set(slot, (onSlot = new Set()));
    onSlot.add(name);
  }

  /** Removes a bound pod; false when there is none of that name. */
  removePod(name: string): boolean {
    const record = this.#pods.get(name);
    if (record === undefined) return false;
    this.#pods.delete(name);
    const { slot, spec } = record;
    this.#podsOnSlot.get(slot)?.delete(name);
    const nodes = this.#nodes;
    this.refresh(spec);
    for (let i = 0; i < spec.dims.length; i++) nodes.allocated[spec.dims[i]!]![slot]! -= spec.amounts[i]!;
    nodes.podCount[slot]!--;
    nodes.addedCpu[slot] = Math.max(0, nodes.addedCpu[slot]! - spec.cpu);
    if (spec.ports !== undefined) for (const port of spec.ports) nodes.ports[slot]?.delete(port);
    for (const tracker of spec.countedIn) this.#trackers.count(tracker, slot, -1);
    for (const tracker of spec.antiAffinityOwners) this.#trackers.count(tracker, slot, -1);
    this.#index.reposition(slot);
    return true;
  }

  /**
   * Accounts `k` copies of a pod on a node (resources, ports, counts, indexes).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  commit(slot: number, spec: PodSpec, k: number): void {
    const nodes = this.#nodes;
    for (let i = 0; i < spec.dims.length; i++) nodes.allocated[spec.dims[i]!]![slot]! += spec.amounts[i]! * k;
    nodes.podCount[slot]! += k;
    nodes.addedCpu[slot]! += spec.cpu * k;
    if (spec.ports !== undefined) {
      let used = nodes.ports[slot];
      if (used === undefined) nodes.ports[slot] = used = new Set();
      for (const port of spec.ports) used.add(port);
    }
    for (const tracker of spec.countedIn) this.#trackers.count(tracker, slot, k);
    for (const tracker of spec.antiAffinityOwners) this.#trackers.count(tracker, slot, k);
    this.#index.reposition(slot);
  }

  /**
   * How many more copies of a pod fit on a node by resources (capped at `limit`).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  fitCount(slot: number, spec: PodSpec, limit: number): number {
    const nodes = this.#nodes;
    let k = limit;
    for (let i = 0; i < spec.dims.length; i++) {
      const d = spec.dims[i]!;
      const q = spec.amounts[i]!;
      const free = nodes.capacity[d]![slot]! - nodes.allocated[d]![slot]!;
      let n = Math.floor(free / q);
      while (n > 0 && nodes.allocated[d]![slot]! + q * n > nodes.capacity[d]![slot]!) n--;
      if (n < k) k = n;
    }
    return Math.max(k, 0);
  }

  /**
   * Total capacity per requested dimension over live nodes (for the batch order).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  totalCapacity(): Float64Array {
    const nodes = this.#nodes;
    const totals = new Float64Array(nodes.dimNames.length);
    for (let d = 0; d < totals.length; d++) {
      const cap = nodes.capacity[d]!;
      let sum = 0;
      for (let slot = 0; slot < nodes.slots; slot++) if (nodes.alive[slot]) sum += cap[slot]!;
      totals[d] = sum;
    }
    return totals;
  }

  /** @internal Used by `schedule`/`scheduleOne`; not part of the public API. */
  nameOf(slot: number): string {
    return this.#nodes.names[slot]!;
  }

  // -------------------------------------------------------------------------------------
  // Decisions

  /**
   * The best node for a pod, or the reasons no node fits. Does not change the state (but
   * for nodes set aside in `aside`, which `putBack` returns).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  decide(spec: PodSpec, options: DecideOptions, aside?: SetAside): Decision {
    this.refresh(spec);
    const heapIndex = options.strategy === 'spread';
    let set = spec.lastSet;
    if (set === undefined || spec.lastSetGeneration !== this.#index.generation || set.heap !== heapIndex || set.weights !== options.weights) {
      set = this.#index.candidateSet(spec, options.weights, heapIndex);
      spec.lastSet = set;
      spec.lastSetGeneration = this.#index.generation;
    }
    const mins = spreadMinimums(spec);
    const useIndex =
      !options.exhaustive &&
      options.strategy !== 'lowest-load' &&
      options.weights.balancedAllocation === 0 &&
      CandidateIndex.worthIndexing(set);
    let slot: number;
    if (useIndex) {
      this.#index.ensureIndexed(set);
      if (set.heap) {
        slot = this.#index.bestInHeap(set, spec, options, mins);
      } else {
        if (aside !== undefined) aside.set = set;
        slot = this.#index.bestInGrid(set, spec, options, mins, aside);
      }
    } else {
      slot = this.#bestOfEvery(set, spec, options, mins);
    }
    if (slot >= 0) return { node: slot };
    return { node: -1, ...diagnose(this.#nodes, spec, mins) };
  }

  /** The reference: every candidate node filtered and scored (binpack: nodes in use before empty ones). */
  #bestOfEvery(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[]): number {
    const nodes = this.#nodes;
    let best = -1;
    let bestInUse = false;
    let bestScore = Number.NEGATIVE_INFINITY;
    const binpack = options.strategy === 'binpack';
    for (const slot of set.members) {
      if (!nodeResourcesFit(nodes, slot, spec) || !placementFiltersPass(nodes, slot, spec, mins)) continue;
      const inUse = binpack && !nodes.isEmpty(slot);
      if (bestInUse && !inUse) continue;
      const score = nodeScore(nodes, slot, spec, set, options, inUse);
      if (best < 0 || (inUse && !bestInUse) || score > bestScore) {
        best = slot;
        bestInUse = inUse;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * Puts the nodes set aside while a group was placed back into the index.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  putBack(aside: SetAside): void {
    this.#index.putBack(aside);
  }
}

/**
 * An empty ClusterState kept for the life of the module and never used: it holds the hidden
 * classes (V8 "maps") of a state and of its parts — node table, trackers, pod compiler,
 * candidate index, label index — alive between states. V8 keeps a hidden class only while
 * some object has it, and optimized code checks the hidden classes it was compiled for: when
 * `schedule()` builds a state, drops it, and a full garbage collection runs before the next
 * call, the classes go, every function optimized for them is thrown away, and the next call
 * re-runs them unoptimized until they are hot again (about 70 functions re-optimized per
 * call on the mixed-5k benchmark; docs/benchmarks.md, "Issue 18: the regression found and
 * fixed"). One empty state costs a few hundred bytes.
 * @internal Not part of the public API.
 */
export const SHAPE_KEEPER: ClusterState = new ClusterState();
