/*
 * Over 800 lines on purpose: the typed-array columns, the filters and the indexes share one
 * layout and one hot loop (1M pods placed in 1.5 s CPU); splitting them would put the column
 * offsets behind calls on that loop. Issue 18 reviews the split.
 */
/**
 * The scheduler's engine: a live cluster (nodes, bound pods, topology counts) kept in typed
 * arrays, the filters, the scores, and the indexes that find the best node without scoring
 * every node.
 */
import { LabelIndex, selectorFromSet, type Selector } from '@flotilla/labels';
import { SchedulerError, describeReceived } from './errors.js';
import { toBaseUnits } from './quantity.js';
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
import { MAX_NODE_SCORE, loadPerCore, lowestLoadScore, taintTolerationScore } from './scores.js';
import { nodeSelectorToSelector, podSelectorToSelector } from './selectors.js';
import {
  UNSCHEDULABLE_TAINT,
  countIntolerablePreferNoSchedule,
  findUntoleratedTaint,
  tolerationsTolerate,
} from './taints.js';
import type { Node, Pod, ResourceList, ScoreWeights, SpreadConstraint, Strategy, Taint, Toleration } from './types.js';

/** The topology key that means "the node itself". */
export const HOSTNAME_KEY = 'kubernetes.io/hostname';

/**
 * The free-capacity grid: a node in use sits in cell (i, j) where i and j are its free
 * fractions of the first two weighted resources (cpu, memory) on a logarithmic scale —
 * PER_OCTAVE cells per halving, GRID cells per axis, the last cell ending at 1 and cell 0
 * holding everything below 2^-(GRID/PER_OCTAVE − 1). Fine cells near "full" keep nodes
 * without room for a pod out of the cells a search visits.
 */
const GRID = 128;
const PER_OCTAVE = 8;
const ROW_WORDS = GRID >>> 5;
/** Lower and upper edges of each cell's free fraction. */
const CELL_LO = Float64Array.from({ length: GRID }, (_, i) => (i === 0 ? 0 : 2 ** ((i - GRID) / PER_OCTAVE)));
const CELL_HI = Float64Array.from({ length: GRID }, (_, i) => (i === GRID - 1 ? 1 : 2 ** ((i + 1 - GRID) / PER_OCTAVE)));

/** The grid index of a free fraction. */
function cellIndex(fraction: number): number {
  if (fraction <= 0) return 0;
  const i = Math.floor(GRID + PER_OCTAVE * Math.log2(fraction));
  return i < 0 ? 0 : i >= GRID ? GRID - 1 : i;
}
/** Candidate sets at most this large are scored exhaustively (an index would not pay off). */
const SMALL_SET = 32;

const NO_MINS: number[] = [];
const EVERY_NODE = { selector: selectorFromSet({}), key: '' };

const STRATEGIES: readonly Strategy[] = ['binpack', 'spread', 'lowest-load'];

// ---------------------------------------------------------------------------------------
// Internal shapes

/** Pods per topology domain for one selector (a count tracker) or one anti-affinity term (an owner tracker). */
interface Tracker {
  readonly selector: Selector;
  readonly topology: Topology;
  /** Pods by domain id (only domains that have some). */
  readonly counts: Map<number, number>;
  version: number;
}

/** Whether the node in `slot` shares a topology domain with a pod the tracker counts (anti-affinity). */
function occupied(tracker: Tracker, slot: number): boolean {
  const domain = tracker.topology.ofNode[slot]!;
  return domain >= 0 && (tracker.counts.get(domain) ?? 0) > 0;
}

/** The domains of one topology key. */
interface Topology {
  readonly key: string;
  readonly ids: Map<string, number>;
  /** Domain id of each node slot; -1 when the node lacks the key. */
  ofNode: Int32Array;
  /** Eligible domain ids per node-selector key (nodes matching the selector that have the key). */
  readonly eligible: Map<string, Int32Array>;
}

interface SpreadRule {
  readonly tracker: Tracker;
  readonly maxSkew: number;
  readonly selfMatch: number;
  readonly eligible: Int32Array;
}

/** A pod compiled against the state: base units, selectors and trackers resolved. */
export interface PodSpec {
  readonly labels: Readonly<Record<string, string>>;
  /** Requested dimensions (amount > 0) and their amounts. */
  readonly dims: number[];
  readonly amounts: number[];
  readonly cpu: number;
  readonly selector: Selector;
  readonly selectorKey: string;
  readonly tolerations: readonly Toleration[] | undefined;
  readonly setKey: string;
  readonly toleratesCordon: boolean;
  readonly ports: readonly number[] | undefined;
  readonly ownTerms: Tracker[];
  readonly ownerEntries: Tracker[];
  readonly spread: SpreadRule[];
  matchedTrackers: Tracker[];
  relevantOwners: Tracker[];
  registryVersion: number;
  /** Has a filter that changes as pods are placed (anti-affinity, spread, host ports). */
  dynamic: boolean;
  /** The candidate set last used, and the state's set generation it belongs to. */
  lastSet?: CandidateSet;
  lastSetGeneration?: number;
}

interface PodRecord {
  readonly name: string;
  readonly slot: number;
  readonly spec: PodSpec;
}

/**
 * Nodes in use of one class with exactly the same allocation: they score alike and fit a
 * pod alike (but for anti-affinity, spread and ports), so a search checks one and takes
 * the first by node order.
 */
interface Equivalents {
  /** Hash of the allocation (groups with equal hashes are chained through `next`). */
  readonly key: number;
  /** The allocation: cpu, memory, and the other dimensions (undefined when there are none). */
  readonly a0: number;
  readonly a1: number;
  readonly rest: Float64Array | undefined;
  next: Equivalents | undefined;
  readonly cell: number;
  cellPos: number;
  readonly slots: number[];
  /** The lowest slot, or -1 when it must be recomputed. */
  min: number;
  /** Weighted free fraction (the same for every member). */
  readonly f: number;
  /** Position in the class heap (spread index), or -1. */
  heapPos: number;
}

/** Nodes of one candidate set with the same capacity and PreferNoSchedule count. */
interface NodeClass {
  readonly capacity: Float64Array;
  readonly taintScore: number;
  /** Sum of the weights of the weighted resources this class has (capacity > 0). */
  readonly weightSum: number;
  /** Grid axes: the dims of the first two weighted resources (-1 when absent) and their weights (0 when the class lacks them). */
  readonly xDim: number;
  readonly yDim: number;
  readonly wx: number;
  readonly wy: number;
  /** Weight of the weighted resources beyond the two axes (for upper bounds). */
  readonly wRest: number;
  readonly members: Int32Array;
  /** The non-empty cells of the GRID × GRID grid (by i·GRID + j): groups of identical nodes. */
  readonly cells: Map<number, Equivalents[]>;
  /** The groups, by a hash of their allocation (collisions chained). */
  readonly equivalents: Map<number, Equivalents>;
  /** Per row, ROW_WORDS words: which cells of the row are non-empty. */
  readonly rowBits: Uint32Array;
  /** Which rows have any non-empty cell. */
  readonly rowOccupied: Uint32Array;
  /** Spread index: a max-heap of the groups by free fraction. */
  readonly heap: Equivalents[];
  readonly pristineBits: Uint32Array;
  pristineHint: number;
  pristineCount: number;
  inUseCount: number;
}

export interface CandidateSet {
  readonly key: string;
  /** Node slots passing the selector, taints and cordons, ascending. */
  readonly members: Int32Array;
  /** PreferNoSchedule counts by slot (valid for members). */
  readonly taintCount: Map<number, number>;
  readonly maxTaintCount: number;
  readonly weights: ResolvedWeights;
  /** The index kind: a heap of groups (spread) or the grid (binpack). */
  readonly heap: boolean;
  indexed: boolean;
  classes: NodeClass[];
  /** By slot: class index, local position in the class, grid cell (-1 pristine, -2 none) and position in it. */
  classOf: Int32Array<ArrayBufferLike>;
  localOf: Int32Array<ArrayBufferLike>;
  cellOf: Int32Array<ArrayBufferLike>;
  posOf: Int32Array<ArrayBufferLike>;
  equivalentsOf: (Equivalents | undefined)[];
}

/** Options of a placement decision. */
export interface DecideOptions {
  readonly strategy: Strategy;
  readonly weights: ResolvedWeights;
  /** Score every candidate node instead of using the index (the reference behaviour). */
  readonly exhaustive: boolean;
}

export interface ResolvedWeights {
  readonly strategy: number;
  readonly balancedAllocation: number;
  readonly taintToleration: number;
  readonly resourceNames: readonly string[];
  readonly resourceWeights: readonly number[];
  readonly key: string;
}

function checkWeight(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`Expected weights.${name} as a finite number ≥ 0, received ${describeReceived(value)}`);
  }
  return value;
}

/** Validates and fills in score weights. */
export function resolveWeights(weights: ScoreWeights | undefined): ResolvedWeights {
  if (weights !== undefined && (typeof weights !== 'object' || weights === null)) {
    throw new TypeError(`Expected weights as an object, received ${describeReceived(weights)}`);
  }
  const strategy = checkWeight('strategy', weights?.strategy ?? 1);
  const balancedAllocation = checkWeight('balancedAllocation', weights?.balancedAllocation ?? 0);
  const taintToleration = checkWeight('taintToleration', weights?.taintToleration ?? 1);
  const resources = weights?.resources ?? { cpu: 1, memory: 1 };
  if (typeof resources !== 'object' || resources === null) {
    throw new TypeError(`Expected weights.resources as an object, received ${describeReceived(resources)}`);
  }
  const resourceNames: string[] = [];
  const resourceWeights: number[] = [];
  for (const [name, value] of Object.entries(resources)) {
    const w = checkWeight(`resources.${name}`, value);
    if (w === 0) continue;
    resourceNames.push(name);
    resourceWeights.push(w);
  }
  return {
    strategy,
    balancedAllocation,
    taintToleration,
    resourceNames,
    resourceWeights,
    key: resourceNames.map((name, i) => `${name}=${resourceWeights[i]}`).join(','),
  };
}

/** Validates a strategy name. */
export function checkStrategy(strategy: unknown): Strategy {
  if (!STRATEGIES.includes(strategy as Strategy)) {
    throw new TypeError(`Expected strategy to be one of 'binpack', 'spread', 'lowest-load', received ${describeReceived(strategy)}`);
  }
  return strategy as Strategy;
}

// ---------------------------------------------------------------------------------------
// Bit helpers

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! |= 1 << (i & 31);
}
function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5]! &= ~(1 << (i & 31));
}
/** The first set bit at or after `from`, or -1. */
function nextSetBit(bits: Uint32Array, from: number): number {
  let word = from >>> 5;
  if (word >= bits.length) return -1;
  let w = bits[word]! & (~0 << (from & 31));
  for (;;) {
    if (w !== 0) return (word << 5) + (31 - Math.clz32(w & -w));
    word++;
    if (word >= bits.length) return -1;
    w = bits[word]!;
  }
}
/** The first non-empty cell of grid row `row` at column ≥ `from`, or -1. */
function nextInRow(rowBits: Uint32Array, row: number, from: number): number {
  if (from >= GRID) return -1;
  let word = from >>> 5;
  let m = rowBits[row * ROW_WORDS + word]! & (~0 << (from & 31));
  for (;;) {
    if (m !== 0) return (word << 5) + (31 - Math.clz32(m & -m));
    if (++word >= ROW_WORDS) return -1;
    m = rowBits[row * ROW_WORDS + word]!;
  }
}

/** The last non-empty cell of grid row `row` at a column in [`floor`, `from`], or -1. */
function prevInRow(rowBits: Uint32Array, row: number, from: number, floor: number): number {
  if (from < floor) return -1;
  let word = from >>> 5;
  const shift = from & 31;
  let m = rowBits[row * ROW_WORDS + word]! & (shift === 31 ? ~0 : (1 << (shift + 1)) - 1);
  for (;;) {
    if (m !== 0) {
      const j = (word << 5) + (31 - Math.clz32(m));
      return j >= floor ? j : -1;
    }
    if (--word < 0 || word << 5 < floor - 31) return -1;
    m = rowBits[row * ROW_WORDS + word]!;
  }
}

/** Max-heap of groups by free fraction: moves the entry at `i` up. */
function heapUp(heap: Equivalents[], i: number): void {
  const item = heap[i]!;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent]!;
    if (p.f >= item.f) break;
    heap[i] = p;
    p.heapPos = i;
    i = parent;
  }
  heap[i] = item;
  item.heapPos = i;
}

function heapDown(heap: Equivalents[], i: number): void {
  const item = heap[i]!;
  const n = heap.length;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap[child + 1]!.f > heap[child]!.f) child++;
    const c = heap[child]!;
    if (c.f <= item.f) break;
    heap[i] = c;
    c.heapPos = i;
    i = child;
  }
  heap[i] = item;
  item.heapPos = i;
}

function heapRemove(heap: Equivalents[], i: number): void {
  const last = heap.pop()!;
  if (i < heap.length) {
    heap[i] = last;
    last.heapPos = i;
    heapUp(heap, i);
    heapDown(heap, last.heapPos);
  }
}

function growInt32(array: Int32Array, size: number, fill: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size).fill(fill);
  next.set(array);
  return next;
}
function growFloat64(array: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(size);
  next.set(array);
  return next;
}

/**
 * Nodes taken out of a candidate set's index while one group of identical pods is placed:
 * a node without room for one copy has no room for the next (a batch only adds), so it
 * need not be looked at again until the group is done. `unpark` puts them back.
 */
export interface Parking {
  set: CandidateSet | undefined;
  readonly slots: number[];
}

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
  // Resources: dimension 0 is cpu, 1 is memory.
  readonly #dimNames: string[] = ['cpu', 'memory'];
  readonly #dimOf = new Map<string, number>([
    ['cpu', 0],
    ['memory', 1],
  ]);
  #cap: Float64Array[] = [new Float64Array(16), new Float64Array(16)];
  #alloc: Float64Array[] = [new Float64Array(16), new Float64Array(16)];

  // Nodes, by slot (insertion order; removed slots stay dead).
  #slots = 0;
  #slotCapacity = 16;
  readonly #names: string[] = [];
  readonly #labels: (Readonly<Record<string, string>> | undefined)[] = [];
  readonly #taints: (readonly Taint[] | undefined)[] = [];
  #alive = new Uint8Array(16);
  #cordoned = new Uint8Array(16);
  #load = new Float64Array(16);
  #addedCpu = new Float64Array(16);
  #podCount = new Int32Array(16);
  readonly #ports: (Set<number> | undefined)[] = [];
  readonly #slotOf = new Map<string, number>();
  readonly #labelIndex = new LabelIndex<number>();
  #liveNodes = 0;

  // Pods bound through addPod/scheduleOne.
  readonly #pods = new Map<string, PodRecord>();

  // Topology and trackers.
  readonly #topologies = new Map<string, Topology>();
  readonly #countTrackers = new Map<string, Tracker>();
  readonly #ownerTrackers = new Map<string, Tracker>();
  readonly #countLookup = new TrackerLookup();
  readonly #ownerLookup = new TrackerLookup();
  #registryVersion = 0;

  // Candidate sets, by set key + weights key.
  #sets = new Map<string, CandidateSet>();
  #setGeneration = 0;
  #setsOfNode: CandidateSet[][] = [];
  readonly #quantityCache = new Map<string, number>();
  // Parsed selectors by the identity of the objects they came from (pods of one template
  // share them): the objects are taken as immutable.
  readonly #nodeSelectors = new WeakMap<object, { selector: Selector; key: string }>();
  readonly #tolerationKeys = new WeakMap<object, string>();
  readonly #termTrackers = new WeakMap<object, { topologyKey: string; count: Tracker; owner: Tracker }>();
  readonly #podSelectors = new WeakMap<object, Selector>();
  readonly #appSelectors = new Map<string | undefined, Selector>();

  /** Creates a state holding `nodes` (in this order). */
  constructor(nodes: Iterable<Node> = []) {
    for (const node of nodes) this.addNode(node);
  }

  /** Number of nodes. */
  get nodeCount(): number {
    return this.#liveNodes;
  }

  /** Number of pods bound through `addPod` or `scheduleOne`. */
  get podCount(): number {
    return this.#pods.size;
  }

  /** Is there a node called `name`? */
  hasNode(name: string): boolean {
    return this.#slotOf.has(name);
  }

  /** Is a pod called `name` bound? */
  hasPod(name: string): boolean {
    return this.#pods.has(name);
  }

  /** The node a bound pod runs on, or `undefined`. */
  nodeOf(podName: string): string | undefined {
    const record = this.#pods.get(podName);
    return record === undefined ? undefined : this.#names[record.slot];
  }

  /** The node names, in the order they were added. */
  nodeNames(): string[] {
    const names: string[] = [];
    for (let slot = 0; slot < this.#slots; slot++) if (this.#alive[slot]) names.push(this.#names[slot]!);
    return names;
  }

  /** What is allocated on a node, in base units, by resource (dimensions with capacity or allocation). */
  allocated(nodeName: string): Record<string, number> {
    const slot = this.#slotOrThrow(nodeName);
    const result: Record<string, number> = {};
    for (let d = 0; d < this.#dimNames.length; d++) {
      const a = this.#alloc[d]![slot]!;
      if (a !== 0 || this.#cap[d]![slot]! !== 0) result[this.#dimNames[d]!] = a;
    }
    return result;
  }

  /** A node's capacity in base units. */
  capacity(nodeName: string): Record<string, number> {
    const slot = this.#slotOrThrow(nodeName);
    const result: Record<string, number> = {};
    for (let d = 0; d < this.#dimNames.length; d++) {
      const c = this.#cap[d]![slot]!;
      if (c !== 0 || d < 2) result[this.#dimNames[d]!] = c;
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
    const name = this.#checkNode(node);
    if (this.#slotOf.has(name)) throw new SchedulerError('duplicate-node', `node ${JSON.stringify(name)} already exists`);
    const slot = this.#slots++;
    this.#ensureSlots(this.#slots);
    this.#names[slot] = name;
    this.#slotOf.set(name, slot);
    this.#alive[slot] = 1;
    this.#liveNodes++;
    this.#writeNode(slot, node, true);
  }

  /**
   * Replaces a node's labels, taints, capacity, allocation, load and cordon, keeping its
   * bound pods. `allocated` is what the scheduler does not know about, added to its pods.
   */
  updateNode(node: Node): void {
    const name = this.#checkNode(node);
    const slot = this.#slotOrThrow(name);
    // Keep the pods' share of the allocation.
    const podShare = this.#dimNames.map(() => 0);
    for (const record of this.#pods.values()) {
      if (record.slot !== slot) continue;
      for (let i = 0; i < record.spec.dims.length; i++) podShare[record.spec.dims[i]!]! += record.spec.amounts[i]!;
    }
    const bound = [...this.#pods.values()].filter((record) => record.slot === slot);
    for (const record of bound) {
      this.refresh(record.spec);
      for (const tracker of record.spec.matchedTrackers) this.#count(tracker, slot, -1);
      for (const tracker of record.spec.ownerEntries) this.#count(tracker, slot, -1);
    }
    this.#labelIndex.remove(slot);
    this.#writeNode(slot, node, false);
    for (let d = 0; d < podShare.length; d++) this.#alloc[d]![slot]! += podShare[d]!;
    for (const record of bound) {
      for (const tracker of record.spec.matchedTrackers) this.#count(tracker, slot, 1);
      for (const tracker of record.spec.ownerEntries) this.#count(tracker, slot, 1);
    }
  }

  /** Removes a node and the pods bound to it; returns the names of those pods. */
  removeNode(name: string): string[] {
    const slot = this.#slotOrThrow(name);
    const evicted: string[] = [];
    for (const record of [...this.#pods.values()]) {
      if (record.slot === slot) {
        this.removePod(record.name);
        evicted.push(record.name);
      }
    }
    this.#alive[slot] = 0;
    this.#liveNodes--;
    this.#slotOf.delete(name);
    this.#labelIndex.remove(slot);
    this.#invalidateNodes();
    for (const topology of this.#topologies.values()) topology.ofNode[slot] = -1;
    return evicted;
  }

  /** Sets a node's 1-minute load average; the cpu placed on it since the last report stops counting as added load. */
  setLoadAverage(nodeName: string, loadAverage: number): void {
    const slot = this.#slotOrThrow(nodeName);
    if (typeof loadAverage !== 'number' || !Number.isFinite(loadAverage) || loadAverage < 0) {
      throw new TypeError(`Expected loadAverage as a finite number ≥ 0, received ${describeReceived(loadAverage)}`);
    }
    this.#load[slot] = loadAverage;
    this.#addedCpu[slot] = 0;
  }

  #checkNode(node: Node): string {
    if (typeof node !== 'object' || node === null) {
      throw new TypeError(`Expected a node object, received ${describeReceived(node)}`);
    }
    if (typeof node.name !== 'string' || node.name === '') {
      throw new SchedulerError('invalid-node', `a node needs a non-empty string name, received ${describeReceived(node.name)}`);
    }
    if (typeof node.capacity !== 'object' || node.capacity === null) {
      throw new SchedulerError(
        'invalid-node',
        `node ${JSON.stringify(node.name)}: expected capacity as an object, received ${describeReceived(node.capacity)}`,
      );
    }
    return node.name;
  }

  #writeNode(slot: number, node: Node, fresh: boolean): void {
    const labels = node.labels ?? {};
    this.#labels[slot] = { ...labels };
    this.#taints[slot] = node.taints === undefined || node.taints.length === 0 ? undefined : node.taints.map((t) => ({ ...t }));
    this.#cordoned[slot] = node.unschedulable === true ? 1 : 0;
    const load = node.loadAverage ?? 0;
    if (typeof load !== 'number' || !Number.isFinite(load) || load < 0) {
      throw new SchedulerError('invalid-node', `node ${JSON.stringify(node.name)}: loadAverage must be a finite number ≥ 0`);
    }
    this.#load[slot] = load;
    this.#addedCpu[slot] = 0;
    for (let d = 0; d < this.#dimNames.length; d++) {
      this.#cap[d]![slot] = 0;
      this.#alloc[d]![slot] = 0;
    }
    for (const [resource, value] of Object.entries(node.capacity)) {
      if (value === undefined) continue;
      this.#cap[this.#dim(resource)]![slot] = this.#base(resource, value);
    }
    for (const [resource, value] of Object.entries(node.allocated ?? {})) {
      if (value === undefined) continue;
      this.#alloc[this.#dim(resource)]![slot] = this.#base(resource, value);
    }
    if (fresh) {
      this.#podCount[slot] = 0;
      this.#ports[slot] = undefined;
    }
    this.#labelIndex.add(slot, labels);
    for (const topology of this.#topologies.values()) topology.ofNode[slot] = this.#domainOf(topology, slot);
    this.#invalidateNodes();
  }

  #invalidateNodes(): void {
    this.#setGeneration++;
    this.#sets = new Map();
    this.#setsOfNode = [];
    for (const topology of this.#topologies.values()) topology.eligible.clear();
  }

  #ensureSlots(size: number): void {
    if (size <= this.#slotCapacity) return;
    let capacity = this.#slotCapacity;
    while (capacity < size) capacity *= 2;
    this.#slotCapacity = capacity;
    this.#cap = this.#cap.map((a) => growFloat64(a, capacity));
    this.#alloc = this.#alloc.map((a) => growFloat64(a, capacity));
    this.#alive = Uint8Array.from({ length: capacity }, (_, i) => this.#alive[i] ?? 0);
    this.#cordoned = Uint8Array.from({ length: capacity }, (_, i) => this.#cordoned[i] ?? 0);
    this.#load = growFloat64(this.#load, capacity);
    this.#addedCpu = growFloat64(this.#addedCpu, capacity);
    this.#podCount = growInt32(this.#podCount, capacity, 0);
    for (const topology of this.#topologies.values()) topology.ofNode = growInt32(topology.ofNode, capacity, -1);
  }

  #slotOrThrow(name: string): number {
    const slot = this.#slotOf.get(name);
    if (slot === undefined) throw new SchedulerError('unknown-node', `no node called ${JSON.stringify(name)}`);
    return slot;
  }

  #dim(resource: string): number {
    let d = this.#dimOf.get(resource);
    if (d === undefined) {
      d = this.#dimNames.length;
      this.#dimNames.push(resource);
      this.#dimOf.set(resource, d);
      this.#cap.push(new Float64Array(this.#slotCapacity));
      this.#alloc.push(new Float64Array(this.#slotCapacity));
    }
    return d;
  }

  #base(resource: string, value: number | string): number {
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
    if (typeof value === 'string') {
      const key = `${resource}\u0000${value}`;
      let cached = this.#quantityCache.get(key);
      if (cached === undefined) {
        cached = toBaseUnits(resource, value);
        this.#quantityCache.set(key, cached);
      }
      return cached;
    }
    return toBaseUnits(resource, value);
  }

  // -------------------------------------------------------------------------------------
  // Topology and trackers

  #topology(key: string): Topology {
    let topology = this.#topologies.get(key);
    if (topology === undefined) {
      topology = { key, ids: new Map(), ofNode: new Int32Array(this.#slotCapacity).fill(-1), eligible: new Map() };
      this.#topologies.set(key, topology);
      for (let slot = 0; slot < this.#slots; slot++) {
        if (this.#alive[slot]) topology.ofNode[slot] = this.#domainOf(topology, slot);
      }
    }
    return topology;
  }

  #domainOf(topology: Topology, slot: number): number {
    let value = this.#labels[slot]?.[topology.key];
    if (value === undefined && topology.key === HOSTNAME_KEY) value = this.#names[slot];
    if (value === undefined) return -1;
    let id = topology.ids.get(value);
    if (id === undefined) {
      id = topology.ids.size;
      topology.ids.set(value, id);
    }
    return id;
  }

  /** Domain ids of the nodes matching `selector` that have the topology key (deduplicated, ascending). */
  #eligible(topology: Topology, selector: Selector, selectorKey: string): Int32Array {
    let domains = topology.eligible.get(selectorKey);
    if (domains === undefined) {
      const seen = new Set<number>();
      for (const slot of this.#labelIndex.select(selector)) {
        const id = topology.ofNode[slot]!;
        if (id >= 0) seen.add(id);
      }
      domains = Int32Array.from([...seen].sort((a, b) => a - b));
      topology.eligible.set(selectorKey, domains);
    }
    return domains;
  }

  #tracker(map: Map<string, Tracker>, selector: Selector, topologyKey: string, owner: boolean): Tracker {
    const key = `${selector.selectable ? '' : '!'}${selector.toString()}\u0000${topologyKey}`;
    let tracker = map.get(key);
    if (tracker === undefined) {
      tracker = { selector, topology: this.#topology(topologyKey), counts: new Map<number, number>(), version: 0 };
      map.set(key, tracker);
      (owner ? this.#ownerLookup : this.#countLookup).add(tracker);
      this.#registryVersion++;
      // Count the pods already bound.
      for (const record of this.#pods.values()) {
        const domain = tracker.topology.ofNode[record.slot]!;
        if (domain < 0) continue;
        const counted = owner
          ? record.spec.ownerEntries.some((entry) => entry === tracker)
          : selector.matches(record.spec.labels);
        if (counted) tracker.counts.set(domain, (tracker.counts.get(domain) ?? 0) + 1);
      }
    }
    return tracker;
  }

  // -------------------------------------------------------------------------------------
  // Pods

  #nodeSelector(nodeSelector: Pod['nodeSelector']): { selector: Selector; key: string } {
    if (nodeSelector === undefined) return EVERY_NODE;
    if (typeof nodeSelector === 'object' && nodeSelector !== null) {
      const cached = this.#nodeSelectors.get(nodeSelector);
      if (cached !== undefined) return cached;
    }
    const selector = nodeSelectorToSelector(nodeSelector);
    const entry = { selector, key: `${selector.selectable ? '' : '!'}${selector.toString()}` };
    this.#nodeSelectors.set(nodeSelector, entry);
    return entry;
  }

  #spreadSelector(labelSelector: SpreadConstraint['labelSelector'], app: string | undefined): Selector {
    if (labelSelector !== undefined) {
      let selector = typeof labelSelector === 'object' && labelSelector !== null ? this.#podSelectors.get(labelSelector) : undefined;
      if (selector === undefined) {
        selector = podSelectorToSelector(labelSelector);
        this.#podSelectors.set(labelSelector, selector);
      }
      return selector;
    }
    let selector = this.#appSelectors.get(app);
    if (selector === undefined) {
      selector =
        app !== undefined
          ? selectorFromSet({ app })
          : podSelectorToSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] });
      this.#appSelectors.set(app, selector);
    }
    return selector;
  }

  /**
   * Compiles a pod: quantities to base units, selectors parsed, its anti-affinity terms and
   * spread constraints registered for counting.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  compile(pod: Pod): PodSpec {
    if (typeof pod !== 'object' || pod === null) throw new TypeError(`Expected a pod object, received ${describeReceived(pod)}`);
    const podName = pod.name;
    if (typeof podName !== 'string' || podName === '') {
      throw new SchedulerError('invalid-pod', `a pod needs a non-empty string name, received ${describeReceived(podName)}`);
    }
    const labels = pod.labels ?? {};
    const requests: ResourceList = pod.requests ?? {};
    const where = (): string => `pod ${JSON.stringify(podName)}`;
    if (typeof requests !== 'object' || requests === null) {
      throw new SchedulerError('invalid-pod', `${where()}: expected requests as an object, received ${describeReceived(requests)}`);
    }
    const dims: number[] = [];
    const amounts: number[] = [];
    let cpu = 0;
    for (const resource in requests) {
      const value = requests[resource];
      if (value === undefined) continue;
      const amount = this.#base(resource, value);
      if (amount <= 0) continue;
      const d = this.#dim(resource);
      dims.push(d);
      amounts.push(amount);
      if (d === 0) cpu = amount;
    }
    const { selector, key: selectorKey } = this.#nodeSelector(pod.nodeSelector);
    const tolerations = pod.tolerations === undefined || pod.tolerations.length === 0 ? undefined : pod.tolerations;
    if (tolerations !== undefined && !Array.isArray(tolerations)) {
      throw new SchedulerError('invalid-pod', `${where()}: expected tolerations as an array, received ${describeReceived(tolerations)}`);
    }
    let tolerationsKey = '';
    if (tolerations !== undefined) {
      tolerationsKey = this.#tolerationKeys.get(tolerations) ?? JSON.stringify(tolerations);
      this.#tolerationKeys.set(tolerations, tolerationsKey);
    }
    const setKey = `${selectorKey}\u0001${tolerationsKey}`;
    let ports: number[] | undefined;
    if (pod.hostPorts !== undefined && pod.hostPorts.length > 0) {
      ports = [];
      for (const port of pod.hostPorts) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new SchedulerError('invalid-pod', `${where()}: host port must be an integer 1–65535, received ${describeReceived(port)}`);
        }
        ports.push(port);
      }
    }
    const ownTerms: Tracker[] = [];
    const ownerEntries: Tracker[] = [];
    for (const t of toArray(pod.antiAffinity)) {
      if (typeof t !== 'object' || t === null) {
        throw new SchedulerError('invalid-pod', `${where()}: expected an anti-affinity term object, received ${describeReceived(t)}`);
      }
      let cached: { topologyKey: string; count: Tracker; owner: Tracker } | undefined = this.#termTrackers.get(t);
      if (cached?.topologyKey !== t.topologyKey) {
        if (typeof t.topologyKey !== 'string' || t.topologyKey === '') {
          throw new SchedulerError('invalid-pod', `${where()}: an anti-affinity term needs a topologyKey`);
        }
        const termSelector = podSelectorToSelector(t.labelSelector);
        cached = {
          topologyKey: t.topologyKey,
          count: this.#tracker(this.#countTrackers, termSelector, t.topologyKey, false),
          owner: this.#tracker(this.#ownerTrackers, termSelector, t.topologyKey, true),
        };
        this.#termTrackers.set(t, cached);
      }
      ownTerms.push(cached.count);
      ownerEntries.push(cached.owner);
    }
    const spread: SpreadRule[] = [];
    for (const constraint of toArray(pod.spread)) {
      if (typeof constraint !== 'object' || constraint === null) {
        throw new SchedulerError('invalid-pod', `${where()}: expected a spread constraint object, received ${describeReceived(constraint)}`);
      }
      if (typeof constraint.topologyKey !== 'string' || constraint.topologyKey === '') {
        throw new SchedulerError('invalid-pod', `${where()}: a spread constraint needs a topologyKey`);
      }
      if (!Number.isInteger(constraint.maxSkew) || constraint.maxSkew < 1) {
        throw new SchedulerError(
          'invalid-pod',
          `${where()}: spread maxSkew must be an integer ≥ 1, received ${describeReceived(constraint.maxSkew)}`,
        );
      }
      const spreadSelector = this.#spreadSelector(constraint.labelSelector, labels.app);
      const tracker = this.#tracker(this.#countTrackers, spreadSelector, constraint.topologyKey, false);
      spread.push({
        tracker,
        maxSkew: constraint.maxSkew,
        selfMatch: spreadSelector.matches(labels) ? 1 : 0,
        eligible: this.#eligible(tracker.topology, selector, selectorKey),
      });
    }
    const spec: PodSpec = {
      labels,
      dims,
      amounts,
      cpu,
      selector,
      selectorKey,
      tolerations,
      setKey,
      toleratesCordon: tolerationsTolerate(tolerations, UNSCHEDULABLE_TAINT),
      ports,
      ownTerms,
      ownerEntries,
      spread,
      matchedTrackers: [],
      relevantOwners: [],
      registryVersion: -1,
      dynamic: false,
    };
    this.refresh(spec);
    return spec;
  }

  /**
   * Brings a compiled pod up to date with trackers registered since it was compiled.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  refresh(spec: PodSpec): void {
    if (spec.registryVersion === this.#registryVersion) return;
    spec.matchedTrackers = this.#countLookup.matching(spec.labels);
    spec.relevantOwners = this.#ownerLookup.matching(spec.labels);
    spec.registryVersion = this.#registryVersion;
    spec.dynamic = spec.ownTerms.length > 0 || spec.spread.length > 0 || spec.ports !== undefined || spec.relevantOwners.length > 0;
  }

  /** Are any pods counted for anti-affinity or spread (so pod labels matter)? */
  /**
   * The label keys that decide which trackers a pod's labels meet (no other label matters).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  trackedLabelKeys(): string[] {
    return [...new Set([...this.#countLookup.keys(), ...this.#ownerLookup.keys()])].sort();
  }

  /** @internal Used by `schedule`/`scheduleOne`; not part of the public API. */
  get tracksLabels(): boolean {
    return this.#countTrackers.size > 0 || this.#ownerTrackers.size > 0;
  }

  /**
   * Binds a pod to a node (a pod the scheduler did not place, or one it did elsewhere).
   * @throws SchedulerError `duplicate-pod`, `unknown-node`, or for a malformed pod.
   */
  addPod(pod: Pod, nodeName: string): void {
    const slot = this.#slotOrThrow(nodeName);
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
  }

  /** Removes a bound pod; false when there is none of that name. */
  removePod(name: string): boolean {
    const record = this.#pods.get(name);
    if (record === undefined) return false;
    this.#pods.delete(name);
    const { slot, spec } = record;
    this.refresh(spec);
    for (let i = 0; i < spec.dims.length; i++) this.#alloc[spec.dims[i]!]![slot]! -= spec.amounts[i]!;
    this.#podCount[slot]!--;
    this.#addedCpu[slot] = Math.max(0, this.#addedCpu[slot]! - spec.cpu);
    if (spec.ports !== undefined) for (const port of spec.ports) this.#ports[slot]?.delete(port);
    for (const tracker of spec.matchedTrackers) this.#count(tracker, slot, -1);
    for (const tracker of spec.ownerEntries) this.#count(tracker, slot, -1);
    this.#reposition(slot);
    return true;
  }

  #count(tracker: Tracker, slot: number, delta: number): void {
    const domain = tracker.topology.ofNode[slot]!;
    if (domain < 0) return;
    tracker.counts.set(domain, (tracker.counts.get(domain) ?? 0) + delta);
    tracker.version++;
  }

  /**
   * Accounts `k` copies of a pod on a node (resources, ports, counts, indexes).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  commit(slot: number, spec: PodSpec, k: number): void {
    for (let i = 0; i < spec.dims.length; i++) this.#alloc[spec.dims[i]!]![slot]! += spec.amounts[i]! * k;
    this.#podCount[slot]! += k;
    this.#addedCpu[slot]! += spec.cpu * k;
    if (spec.ports !== undefined) {
      let used = this.#ports[slot];
      if (used === undefined) this.#ports[slot] = used = new Set();
      for (const port of spec.ports) used.add(port);
    }
    for (const tracker of spec.matchedTrackers) this.#count(tracker, slot, k);
    for (const tracker of spec.ownerEntries) this.#count(tracker, slot, k);
    this.#reposition(slot);
  }

  /**
   * How many more copies of a pod fit on a node by resources (capped at `limit`).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  fitCount(slot: number, spec: PodSpec, limit: number): number {
    let k = limit;
    for (let i = 0; i < spec.dims.length; i++) {
      const d = spec.dims[i]!;
      const q = spec.amounts[i]!;
      const free = this.#cap[d]![slot]! - this.#alloc[d]![slot]!;
      let n = Math.floor(free / q);
      while (n > 0 && this.#alloc[d]![slot]! + q * n > this.#cap[d]![slot]!) n--;
      if (n < k) k = n;
    }
    return Math.max(k, 0);
  }

  /**
   * Total capacity per requested dimension over live nodes (for the batch order).
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  totalCapacity(): Float64Array {
    const totals = new Float64Array(this.#dimNames.length);
    for (let d = 0; d < totals.length; d++) {
      const cap = this.#cap[d]!;
      let sum = 0;
      for (let slot = 0; slot < this.#slots; slot++) if (this.#alive[slot]) sum += cap[slot]!;
      totals[d] = sum;
    }
    return totals;
  }

  /** @internal Used by `schedule`/`scheduleOne`; not part of the public API. */
  nameOf(slot: number): string {
    return this.#names[slot]!;
  }

  // -------------------------------------------------------------------------------------
  // Filters

  #fitsResources(slot: number, spec: PodSpec): boolean {
    const dims = spec.dims;
    for (let i = 0; i < dims.length; i++) {
      const d = dims[i]!;
      if (this.#alloc[d]![slot]! + spec.amounts[i]! > this.#cap[d]![slot]!) return false;
    }
    return true;
  }

  /** Host ports, spread and anti-affinity (both directions); `mins` are the spread minimums. */
  #fitsDynamic(slot: number, spec: PodSpec, mins: number[]): boolean {
    if (spec.ports !== undefined) {
      const used = this.#ports[slot];
      if (used !== undefined) for (const port of spec.ports) if (used.has(port)) return false;
    }
    for (let i = 0; i < spec.spread.length; i++) {
      const rule = spec.spread[i]!;
      const domain = rule.tracker.topology.ofNode[slot]!;
      if (domain < 0) return false;
      if ((rule.tracker.counts.get(domain) ?? 0) + rule.selfMatch - mins[i]! > rule.maxSkew) return false;
    }
    for (const tracker of spec.relevantOwners) if (occupied(tracker, slot)) return false;
    for (const tracker of spec.ownTerms) if (occupied(tracker, slot)) return false;
    return true;
  }

  #spreadMins(spec: PodSpec): number[] {
    if (spec.spread.length === 0) return NO_MINS;
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

  #pristine(slot: number): boolean {
    if (this.#podCount[slot]! !== 0) return false;
    for (const alloc of this.#alloc) if (alloc[slot]! !== 0) return false;
    return true;
  }

  // -------------------------------------------------------------------------------------
  // Scores

  /**
   * The resource score of a node with the pod on it: most-allocated (`most`) or
   * least-allocated, over the weighted resources with capacity (scores.ts has the formulas;
   * this is the same arithmetic on the typed arrays).
   */
  #resourceScore(slot: number, spec: PodSpec, weights: ResolvedWeights, most: boolean): number {
    // For a node the pod fits on, most-allocated = 100·(1 − f + r) and least-allocated =
    // 100·(f − r), f the weighted free fraction before the pod and r the pod's weighted share
    // (scores.ts has the per-resource form; they are equal term by term). Computing both
    // from f makes the score a monotone function of f, which the indexes rely on.
    let share = 0;
    let weightSum = 0;
    const names = weights.resourceNames;
    for (let j = 0; j < names.length; j++) {
      const d = this.#dimOf.get(names[j]!);
      if (d === undefined) continue;
      const c = this.#cap[d]![slot]!;
      if (c <= 0) continue;
      const w = weights.resourceWeights[j]!;
      share += (w * requestOf(spec, d)) / c;
      weightSum += w;
    }
    if (weightSum === 0) return 0;
    const f = this.#freeFraction(slot, weights);
    const r = share / weightSum;
    return most ? MAX_NODE_SCORE * (1 - f + r) : MAX_NODE_SCORE * (f - r);
  }


  #balancedScore(slot: number, spec: PodSpec, weights: ResolvedWeights): number {
    const fractions: number[] = [];
    for (const name of weights.resourceNames) {
      const d = this.#dimOf.get(name);
      if (d === undefined) continue;
      const c = this.#cap[d]![slot]!;
      if (c <= 0) continue;
      fractions.push(Math.min(1, (this.#alloc[d]![slot]! + requestOf(spec, d)) / c));
    }
    if (fractions.length < 2) return MAX_NODE_SCORE;
    let std: number;
    if (fractions.length === 2) std = Math.abs(fractions[0]! - fractions[1]!) / 2;
    else {
      const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
      std = Math.sqrt(fractions.reduce((a, f) => a + (f - mean) ** 2, 0) / fractions.length);
    }
    return (1 - std) * MAX_NODE_SCORE;
  }

  /** The full score (tier, value) of a feasible node, as documented in the README. */
  #score(slot: number, spec: PodSpec, set: CandidateSet, options: DecideOptions, tier: number): number {
    const w = options.weights;
    let value = 0;
    switch (options.strategy) {
      case 'binpack':
        value = w.strategy * this.#resourceScore(slot, spec, w, tier === 1);
        break;
      case 'spread':
        value = w.strategy * this.#resourceScore(slot, spec, w, false);
        break;
      case 'lowest-load':
        value =
          w.strategy * lowestLoadScore(loadPerCore(this.#load[slot]!, this.#addedCpu[slot]!, this.#cap[0]![slot]!));
        break;
    }
    if (w.balancedAllocation !== 0) value += w.balancedAllocation * this.#balancedScore(slot, spec, w);
    if (w.taintToleration !== 0) {
      value += w.taintToleration * taintTolerationScore(set.taintCount.get(slot) ?? 0, set.maxTaintCount);
    }
    return value;
  }

  // -------------------------------------------------------------------------------------
  // Candidate sets and the index

  #candidateSet(spec: PodSpec, weights: ResolvedWeights, heap: boolean): CandidateSet {
    const key = `${spec.setKey}\u0002${weights.key}\u0002${heap ? 'h' : 'g'}`;
    let set = this.#sets.get(key);
    if (set !== undefined) return set;
    const selected = spec.selector.isEmpty() ? null : this.#labelIndex.select(spec.selector).sort((a, b) => a - b);
    const members: number[] = [];
    const taintCount = new Map<number, number>();
    let maxTaintCount = 0;
    const consider = (slot: number): void => {
      if (!this.#alive[slot]) return;
      if (this.#cordoned[slot] && !spec.toleratesCordon) return;
      const taints = this.#taints[slot];
      if (taints !== undefined) {
        if (findUntoleratedTaint(taints, spec.tolerations) !== undefined) return;
        const count = countIntolerablePreferNoSchedule(taints, spec.tolerations);
        if (count > 0) {
          taintCount.set(slot, count);
          if (count > maxTaintCount) maxTaintCount = count;
        }
      }
      members.push(slot);
    };
    if (selected === null) for (let slot = 0; slot < this.#slots; slot++) consider(slot);
    else for (const slot of selected) consider(slot);
    set = {
      key,
      members: Int32Array.from(members),
      taintCount,
      maxTaintCount,
      weights,
      heap,
      indexed: false,
      classes: [],
      classOf: new Int32Array(0),
      localOf: new Int32Array(0),
      cellOf: new Int32Array(0),
      posOf: new Int32Array(0),
      equivalentsOf: [],
    };
    this.#sets.set(key, set);
    return set;
  }

  /** Builds the free-capacity index of a candidate set (classes, grid cells, pristine bits). */
  #buildIndex(set: CandidateSet, weights: ResolvedWeights): void {
    set.indexed = true;
    const size = this.#slotCapacity;
    set.classOf = new Int32Array(size).fill(-1);
    set.localOf = new Int32Array(size).fill(-1);
    set.cellOf = new Int32Array(size).fill(-2);
    set.posOf = new Int32Array(size).fill(-1);
    set.equivalentsOf = new Array<Equivalents | undefined>(size);
    const byKey = new Map<string, number[]>();
    const dimCount = this.#dimNames.length;
    for (const slot of set.members) {
      let key = `${set.taintCount.get(slot) ?? 0}`;
      for (let d = 0; d < dimCount; d++) key += `,${this.#cap[d]![slot]!}`;
      let list = byKey.get(key);
      if (list === undefined) byKey.set(key, (list = []));
      list.push(slot);
    }
    const weightCount = weights.resourceNames.length;
    for (const list of byKey.values()) {
      const first = list[0]!;
      const capacity = new Float64Array(dimCount);
      for (let d = 0; d < dimCount; d++) capacity[d] = this.#cap[d]![first]!;
      let weightSum = 0;
      const axisDims = [-1, -1];
      const axisWeights = [0, 0];
      let wRest = 0;
      for (let j = 0; j < weightCount; j++) {
        const d = this.#dimOf.get(weights.resourceNames[j]!) ?? -1;
        const w = d >= 0 && capacity[d]! > 0 ? weights.resourceWeights[j]! : 0;
        weightSum += w;
        if (j < 2) {
          axisDims[j] = d;
          axisWeights[j] = w;
        } else {
          wRest += w;
        }
      }
      const cls: NodeClass = {
        capacity,
        taintScore: taintTolerationScore(set.taintCount.get(first) ?? 0, set.maxTaintCount),
        weightSum,
        xDim: axisDims[0]!,
        yDim: axisDims[1]!,
        wx: axisWeights[0]!,
        wy: axisWeights[1]!,
        wRest,
        members: Int32Array.from(list),
        cells: new Map<number, Equivalents[]>(),
        equivalents: new Map(),
        heap: [],
        rowBits: new Uint32Array(GRID * ROW_WORDS),
        rowOccupied: new Uint32Array(ROW_WORDS),
        pristineBits: new Uint32Array((list.length + 31) >>> 5),
        pristineHint: 0,
        pristineCount: 0,
        inUseCount: 0,
      };
      const classIndex = set.classes.length;
      set.classes.push(cls);
      for (let i = 0; i < list.length; i++) {
        const slot = list[i]!;
        set.classOf[slot] = classIndex;
        set.localOf[slot] = i;
        (this.#setsOfNode[slot] ??= []).push(set);
        this.#place(set, cls, slot, weights);
      }
    }
  }

  /** The weighted free fraction of a node (0 = full, 1 = empty) over the weighted resources it has. */
  #freeFraction(slot: number, weights: ResolvedWeights): number {
    let f = 0;
    let weightSum = 0;
    const names = weights.resourceNames;
    for (let j = 0; j < names.length; j++) {
      const d = this.#dimOf.get(names[j]!);
      if (d === undefined) continue;
      const c = this.#cap[d]![slot]!;
      if (c <= 0) continue;
      const w = weights.resourceWeights[j]!;
      f += w * Math.max(0, (c - this.#alloc[d]![slot]!) / c);
      weightSum += w;
    }
    return weightSum === 0 ? 0 : f / weightSum;
  }


  /** The grid coordinate of a node's free fraction of `dim` (0 when the class lacks it). */
  #axis(slot: number, cls: NodeClass, dim: number): number {
    if (dim < 0) return 0;
    const c = cls.capacity[dim] ?? 0;
    if (c <= 0) return 0;
    return cellIndex((c - this.#alloc[dim]![slot]!) / c);
  }

  #allocationHash(slot: number): number {
    let hash = 0;
    for (const alloc of this.#alloc) hash = hash * 31 + alloc[slot]!;
    return hash;
  }

  #sameAllocation(group: Equivalents, slot: number): boolean {
    if (group.a0 !== this.#alloc[0]![slot]! || group.a1 !== this.#alloc[1]![slot]!) return false;
    const dims = this.#alloc.length;
    for (let d = 2; d < dims; d++) if ((group.rest?.[d - 2] ?? 0) !== this.#alloc[d]![slot]!) return false;
    return true;
  }

  #findGroup(cls: NodeClass, key: number, slot: number): Equivalents | undefined {
    for (let group = cls.equivalents.get(key); group !== undefined; group = group.next) {
      if (this.#sameAllocation(group, slot)) return group;
    }
    return undefined;
  }

  /** Puts a node (not currently placed) into its class's pristine bits, grid cell or heap. */
  #place(set: CandidateSet, cls: NodeClass, slot: number, weights: ResolvedWeights): void {
    if (!set.heap && this.#pristine(slot)) {
      const local = set.localOf[slot]!;
      setBit(cls.pristineBits, local);
      if (local < cls.pristineHint) cls.pristineHint = local;
      cls.pristineCount++;
      set.cellOf[slot] = -1;
      return;
    }
    const key = this.#allocationHash(slot);
    let group = this.#findGroup(cls, key, slot);
    if (group === undefined) {
      const a0 = this.#alloc[0]![slot]!;
      const a1 = this.#alloc[1]![slot]!;
      let rest: Float64Array | undefined;
      for (let d = 2; d < this.#alloc.length; d++) {
        if (this.#alloc[d]![slot]! !== 0) {
          rest = Float64Array.from(this.#alloc.slice(2), (alloc) => alloc[slot]!);
          break;
        }
      }
      if (set.heap) {
        group = {
          key,
          a0,
          a1,
          rest,
          next: undefined,
          cell: -3,
          cellPos: -1,
          slots: [],
          min: slot,
          f: this.#freeFraction(slot, weights),
          heapPos: cls.heap.length,
        };
        cls.heap.push(group);
        heapUp(cls.heap, group.heapPos);
      } else {
        const i = this.#axis(slot, cls, cls.xDim);
        const j = this.#axis(slot, cls, cls.yDim);
        const cell = i * GRID + j;
        let list = cls.cells.get(cell);
        if (list === undefined) cls.cells.set(cell, (list = []));
        group = { key, a0, a1, rest, next: undefined, cell, cellPos: list.length, slots: [], min: slot, f: 0, heapPos: -1 };
        list.push(group);
        cls.rowBits[i * ROW_WORDS + (j >>> 5)]! |= 1 << (j & 31);
        setBit(cls.rowOccupied, i);
      }
      group.next = cls.equivalents.get(key);
      cls.equivalents.set(key, group);
    } else if (group.min >= 0 && slot < group.min) {
      group.min = slot;
    }
    set.cellOf[slot] = group.cell;
    set.posOf[slot] = group.slots.length;
    set.equivalentsOf[slot] = group;
    group.slots.push(slot);
    cls.inUseCount++;
  }

  #unplace(set: CandidateSet, cls: NodeClass, slot: number): void {
    const cell = set.cellOf[slot]!;
    if (cell === -1) {
      clearBit(cls.pristineBits, set.localOf[slot]!);
      cls.pristineCount--;
    } else if (cell >= 0 || cell === -3) {
      const group = set.equivalentsOf[slot]!;
      const pos = set.posOf[slot]!;
      const last = group.slots.pop()!;
      if (last !== slot) {
        group.slots[pos] = last;
        set.posOf[last] = pos;
      }
      if (group.min === slot) group.min = -1;
      set.equivalentsOf[slot] = undefined;
      if (group.slots.length === 0) {
        const head = cls.equivalents.get(group.key)!;
        if (head === group) {
          if (group.next === undefined) cls.equivalents.delete(group.key);
          else cls.equivalents.set(group.key, group.next);
        } else {
          let previous = head;
          while (previous.next !== group) previous = previous.next!;
          previous.next = group.next;
        }
        if (cell === -3) {
          heapRemove(cls.heap, group.heapPos);
        } else {
          const list = cls.cells.get(cell)!;
          const moved = list.pop()!;
          if (moved !== group) {
            list[group.cellPos] = moved;
            moved.cellPos = group.cellPos;
          }
          if (list.length === 0) {
            const i = (cell / GRID) | 0;
            const j = cell % GRID;
            cls.rowBits[i * ROW_WORDS + (j >>> 5)]! &= ~(1 << (j & 31));
            let empty = true;
            for (let w = 0; w < ROW_WORDS; w++) if (cls.rowBits[i * ROW_WORDS + w] !== 0) empty = false;
            if (empty) clearBit(cls.rowOccupied, i);
          }
        }
      }
      cls.inUseCount--;
    }
    set.cellOf[slot] = -2;
  }

  #reposition(slot: number): void {
    const sets = this.#setsOfNode[slot];
    if (sets === undefined) return;
    for (const set of sets) {
      const cls = set.classes[set.classOf[slot]!]!;
      const pristine = !set.heap && this.#pristine(slot);
      if (pristine && set.cellOf[slot] === -1) continue;
      const group = set.equivalentsOf[slot];
      if (group !== undefined && !pristine && this.#sameAllocation(group, slot)) continue;
      this.#unplace(set, cls, slot);
      this.#place(set, cls, slot, set.weights);
    }
  }

  // -------------------------------------------------------------------------------------
  // Decisions

  /**
   * The best node for a pod, or the reasons no node fits. Does not change the state.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  decide(spec: PodSpec, options: DecideOptions, park?: Parking): Decision {
    this.refresh(spec);
    const heapIndex = options.strategy === 'spread';
    let set = spec.lastSet;
    if (set === undefined || spec.lastSetGeneration !== this.#setGeneration || set.heap !== heapIndex || set.weights !== options.weights) {
      set = this.#candidateSet(spec, options.weights, heapIndex);
      spec.lastSet = set;
      spec.lastSetGeneration = this.#setGeneration;
    }
    const mins = this.#spreadMins(spec);
    const useIndex =
      !options.exhaustive &&
      options.strategy !== 'lowest-load' &&
      options.weights.balancedAllocation === 0 &&
      set.members.length > SMALL_SET;
    let slot: number;
    if (useIndex) {
      if (!set.indexed) this.#buildIndex(set, options.weights);
      if (set.heap) {
        slot = this.#bestHeap(set, spec, options, mins);
      } else {
        if (park !== undefined) park.set = set;
        slot = this.#bestIndexed(set, spec, options, mins, park);
      }
    } else {
      slot = this.#bestExhaustive(set, spec, options, mins);
    }
    if (slot >= 0) return { node: slot };
    return { node: -1, ...this.diagnose(spec, mins) };
  }

  /** The reference: every candidate node filtered and scored. */
  #bestExhaustive(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[]): number {
    let best = -1;
    let bestTier = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    const binpack = options.strategy === 'binpack';
    for (const slot of set.members) {
      if (!this.#fitsResources(slot, spec) || !this.#fitsDynamic(slot, spec, mins)) continue;
      const tier = binpack && !this.#pristine(slot) ? 1 : 0;
      if (tier < bestTier) continue;
      const score = this.#score(slot, spec, set, options, binpack ? tier : 0);
      if (tier > bestTier || score > bestScore) {
        best = slot;
        bestTier = tier;
        bestScore = score;
      }
    }
    return best;
  }

  readonly #activeRow = new Int32Array(GRID);
  readonly #activeCol = new Int32Array(GRID);

  /**
   * The index. Per class of identical nodes (same capacity, same PreferNoSchedule count),
   * empty nodes sit in a bitset by node order and nodes in use in a grid by their free
   * fractions of cpu and memory. Within a class the resource score is a monotone function
   * of the weighted free fraction f (most-allocated = 100·(1 − f + r), least-allocated =
   * 100·(f − r), r the pod's share of the class's capacity), so the best node in use is the
   * one with the least f (binpack) or the most f (spread) that passes every filter. Cells
   * are visited in order of their bound on f, skipping rows and columns with too little
   * room for the pod, until no unvisited cell can beat the best node found; each visited
   * cell is scanned exactly. The classes' winners are then compared by their full scores
   * (ties: lowest node order). For binpack, empty nodes are considered only when no node in
   * use fits.
   */
  #bestIndexed(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[], park: Parking | undefined): number {
    const binpack = options.strategy === 'binpack';
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    const tier = binpack ? 1 : 0;
    const activeRow = this.#activeRow;
    const activeCol = this.#activeCol;
    for (const cls of set.classes) {
      if (cls.inUseCount === 0 || !classCanFit(cls, spec)) continue;
      const i0 = this.#firstIndex(cls, cls.xDim, spec);
      const j0 = this.#firstIndex(cls, cls.yDim, spec);
      const scale = cls.weightSum > 0 ? 1 / cls.weightSum : 0;
      let clsBest = -1;
      let clsScore = Number.NEGATIVE_INFINITY;
      let clsF = binpack ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      // The occupied rows with room, each with its next candidate column.
      let active = 0;
      for (let i = nextSetBit(cls.rowOccupied, i0); i !== -1; i = nextSetBit(cls.rowOccupied, i + 1)) {
        const j = binpack ? nextInRow(cls.rowBits, i, j0) : prevInRow(cls.rowBits, i, GRID - 1, j0);
        if (j < 0) continue;
        activeRow[active] = i;
        activeCol[active] = j;
        active++;
      }
      for (;;) {
        // The unvisited cell with the best bound on f.
        let pick = -1;
        let bound = binpack ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
        for (let k = 0; k < active; k++) {
          const j = activeCol[k]!;
          if (j < 0) continue;
          const i = activeRow[k]!;
          const b = binpack
            ? (cls.wx * CELL_LO[i]! + cls.wy * CELL_LO[j]!) * scale
            : (cls.wx * CELL_HI[i]! + cls.wy * CELL_HI[j]! + cls.wRest) * scale;
          if (binpack ? b < bound : b > bound) {
            bound = b;
            pick = k;
          }
        }
        if (pick < 0) break;
        if (binpack ? bound > clsF + 1e-12 : bound < clsF - 1e-12) break;
        const row = activeRow[pick]!;
        const col = activeCol[pick]!;
        const list = cls.cells.get(row * GRID + col)!;
        let parked: Equivalents[] | undefined;
        for (const group of list) {
          if (!this.#fitsResources(group.slots[0]!, spec)) {
            if (park !== undefined) (parked ??= []).push(group);
            continue;
          }
          let slot = -1;
          if (!spec.dynamic) {
            if (group.min < 0) {
              let min = group.slots[0]!;
              for (const candidate of group.slots) if (candidate < min) min = candidate;
              group.min = min;
            }
            slot = group.min;
          } else {
            for (const candidate of group.slots) {
              if ((slot < 0 || candidate < slot) && this.#fitsDynamic(candidate, spec, mins)) slot = candidate;
            }
            if (slot < 0) continue;
          }
          const f = this.#freeFraction(slot, options.weights);
          if (binpack ? f < clsF : f > clsF) clsF = f;
          const s = this.#score(slot, spec, set, options, tier);
          if (s > clsScore || (s === clsScore && slot < clsBest)) {
            clsBest = slot;
            clsScore = s;
          }
        }
        if (parked !== undefined) {
          for (const group of parked) {
            for (const slot of [...group.slots]) {
              this.#unplace(set, cls, slot);
              park!.slots.push(slot);
            }
          }
        }
        activeCol[pick] = binpack ? nextInRow(cls.rowBits, row, col + 1) : prevInRow(cls.rowBits, row, col - 1, j0);
      }
      if (clsBest >= 0 && (clsScore > bestScore || (clsScore === bestScore && clsBest < best))) {
        best = clsBest;
        bestScore = clsScore;
      }
    }
    if (binpack && best >= 0) return best;
    for (const cls of set.classes) {
      if (cls.pristineCount === 0 || !classCanFit(cls, spec)) continue;
      let local = nextSetBit(cls.pristineBits, cls.pristineHint);
      if (local === -1) continue;
      cls.pristineHint = local;
      while (local !== -1) {
        const slot = cls.members[local]!;
        if (this.#fitsDynamic(slot, spec, mins)) {
          const s = this.#score(slot, spec, set, options, 0);
          if (s > bestScore || (s === bestScore && slot < best)) {
            best = slot;
            bestScore = s;
          }
          break;
        }
        local = nextSetBit(cls.pristineBits, local + 1);
      }
    }
    return best;
  }

  readonly #frontier: number[] = [];

  /**
   * The spread index: per class, a max-heap of the groups of identical nodes by free
   * fraction f (least-allocated = 100·(f − r) is monotone in f). A best-first walk of the
   * heap pops groups in decreasing f — a group's children never have more room — and stops
   * at the first group whose score falls below the best feasible one found (groups scoring
   * the same are all looked at, for the tie rule).
   */
  #bestHeap(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[]): number {
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    const frontier = this.#frontier;
    for (const cls of set.classes) {
      const heap = cls.heap;
      if (heap.length === 0 || !classCanFit(cls, spec)) continue;
      let clsBest = -1;
      let clsScore = Number.NEGATIVE_INFINITY;
      frontier.length = 0;
      frontier.push(0);
      while (frontier.length > 0) {
        // Pop the frontier entry with the most room (the frontier stays small).
        let at = 0;
        for (let k = 1; k < frontier.length; k++) if (heap[frontier[k]!]!.f > heap[frontier[at]!]!.f) at = k;
        const h = frontier[at]!;
        frontier[at] = frontier[frontier.length - 1]!;
        frontier.pop();
        const group = heap[h]!;
        const rep = group.slots[0]!;
        if (clsBest >= 0 && this.#score(rep, spec, set, options, 0) < clsScore) break;
        if (this.#fitsResources(rep, spec)) {
          let slot = -1;
          if (!spec.dynamic) {
            if (group.min < 0) {
              let min = rep;
              for (const candidate of group.slots) if (candidate < min) min = candidate;
              group.min = min;
            }
            slot = group.min;
          } else {
            for (const candidate of group.slots) {
              if ((slot < 0 || candidate < slot) && this.#fitsDynamic(candidate, spec, mins)) slot = candidate;
            }
          }
          if (slot >= 0) {
            const s = this.#score(slot, spec, set, options, 0);
            if (s > clsScore || (s === clsScore && slot < clsBest)) {
              clsBest = slot;
              clsScore = s;
            }
          }
        }
        if (2 * h + 1 < heap.length) frontier.push(2 * h + 1);
        if (2 * h + 2 < heap.length) frontier.push(2 * h + 2);
      }
      if (clsBest >= 0 && (clsScore > bestScore || (clsScore === bestScore && clsBest < best))) {
        best = clsBest;
        bestScore = clsScore;
      }
    }
    return best;
  }

  /**
   * Puts parked nodes back into the index.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  unpark(park: Parking): void {
    const set = park.set;
    if (set === undefined || this.#sets.get(set.key) !== set) return;
    for (const slot of park.slots) {
      if (set.cellOf[slot] === -2 && this.#alive[slot]) this.#place(set, set.classes[set.classOf[slot]!]!, slot, set.weights);
    }
    park.slots.length = 0;
  }

  /** The lowest grid index along `dim` whose cells can hold a node with room for the pod. */
  #firstIndex(cls: NodeClass, dim: number, spec: PodSpec): number {
    if (dim < 0) return 0;
    const c = cls.capacity[dim] ?? 0;
    const q = requestOf(spec, dim);
    if (c <= 0 || q <= 0) return 0;
    return cellIndex((q / c) * (1 - 1e-12));
  }

  /**
   * Why a pod fits nowhere: each node's first failing filter in kube-scheduler's order
   * (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit — every
   * insufficient resource —, PodTopologySpread, InterPodAffinity), as a histogram.
   * @internal Used by `schedule`/`scheduleOne`; not part of the public API.
   */
  diagnose(spec: PodSpec, mins: number[] = this.#spreadMins(spec)): { reasons: string[]; message: string } {
    const counts = new Map<string, number>();
    const add = (reason: string): void => {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    };
    for (let slot = 0; slot < this.#slots; slot++) {
      if (!this.#alive[slot]) continue;
      if (this.#cordoned[slot] && !spec.toleratesCordon) {
        add(REASON_UNSCHEDULABLE);
        continue;
      }
      const taint = findUntoleratedTaint(this.#taints[slot], spec.tolerations);
      if (taint !== undefined) {
        add(untoleratedTaintReason(taint.key, taint.value));
        continue;
      }
      if (!spec.selector.matches(this.#labels[slot] ?? {})) {
        add(REASON_NODE_SELECTOR);
        continue;
      }
      const used = this.#ports[slot];
      if (spec.ports !== undefined && used !== undefined && spec.ports.some((port) => used.has(port))) {
        add(REASON_HOST_PORTS);
        continue;
      }
      let insufficient = false;
      for (let i = 0; i < spec.dims.length; i++) {
        const d = spec.dims[i]!;
        if (this.#alloc[d]![slot]! + spec.amounts[i]! > this.#cap[d]![slot]!) {
          add(insufficientReason(this.#dimNames[d]!));
          insufficient = true;
        }
      }
      if (insufficient) continue;
      let spreadReason: string | undefined;
      for (let i = 0; i < spec.spread.length && spreadReason === undefined; i++) {
        const rule = spec.spread[i]!;
        const domain = rule.tracker.topology.ofNode[slot]!;
        if (domain < 0) spreadReason = REASON_SPREAD_MISSING_LABEL;
        else if ((rule.tracker.counts.get(domain) ?? 0) + rule.selfMatch - mins[i]! > rule.maxSkew) spreadReason = REASON_SPREAD;
      }
      if (spreadReason !== undefined) {
        add(spreadReason);
        continue;
      }
      if (spec.relevantOwners.some((tracker) => occupied(tracker, slot))) {
        add(REASON_EXISTING_ANTI_AFFINITY);
        continue;
      }
      if (spec.ownTerms.some((tracker) => occupied(tracker, slot))) add(REASON_ANTI_AFFINITY);
    }
    const reasons = reasonHistogram(counts);
    return { reasons, message: fitErrorMessage(this.#liveNodes, reasons) };
  }
}

/**
 * Trackers looked up by the labels they match: a selector that requires one exact value of
 * some key (e.g. `app=web`) is filed under that key and value, so a pod's labels only meet
 * the selectors that could match them; the others are checked one by one.
 */
class TrackerLookup {
  readonly #byKey = new Map<string, Map<string, Tracker[]>>();
  readonly #general: Tracker[] = [];
  readonly #allKeys = new Set<string>();

  add(tracker: Tracker): void {
    for (const requirement of tracker.selector.requirements) this.#allKeys.add(requirement.key);
    for (const requirement of tracker.selector.requirements) {
      const value = tracker.selector.requiresExactMatch(requirement.key);
      if (value === undefined) continue;
      let byValue = this.#byKey.get(requirement.key);
      if (byValue === undefined) this.#byKey.set(requirement.key, (byValue = new Map<string, Tracker[]>()));
      let list = byValue.get(value);
      if (list === undefined) byValue.set(value, (list = []));
      list.push(tracker);
      return;
    }
    this.#general.push(tracker);
  }

  /** Every label key any selector's requirements look at (a match depends on nothing else). */
  keys(): string[] {
    return [...this.#allKeys];
  }

  matching(labels: Readonly<Record<string, string>>): Tracker[] {
    const out: Tracker[] = [];
    for (const [key, byValue] of this.#byKey) {
      const value = labels[key];
      if (value === undefined) continue;
      for (const tracker of byValue.get(value) ?? []) if (tracker.selector.matches(labels)) out.push(tracker);
    }
    for (const tracker of this.#general) if (tracker.selector.matches(labels)) out.push(tracker);
    return out;
  }
}

function toArray<T extends object>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function requestOf(spec: PodSpec, d: number): number {
  const dims = spec.dims;
  for (let i = 0; i < dims.length; i++) if (dims[i] === d) return spec.amounts[i]!;
  return 0;
}

function classCanFit(cls: NodeClass, spec: PodSpec): boolean {
  for (let i = 0; i < spec.dims.length; i++) {
    if (spec.amounts[i]! > (cls.capacity[spec.dims[i]!] ?? 0)) return false;
  }
  return true;
}
