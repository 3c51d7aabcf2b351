/**
 * The node table: every node of a ClusterState as a slot in typed-array columns (capacity and
 * allocation per resource, cordon, load, pod count) beside its name, labels, taints and host
 * ports. The filters, scores and the candidate index read these columns directly.
 */
import { LabelIndex } from '@flotilla/labels';
import { SchedulerError, describeReceived } from './errors.js';
import { toBaseUnits } from './quantity.js';
import type { Node, Taint } from './types.js';

/** Resource dimension of cpu (millicores) in the columns. */
export const CPU = 0;
/** Resource dimension of memory (MiB) in the columns. */
export const MEMORY = 1;

/**
 * Nodes by slot. A slot is given in the order nodes are added (that order breaks ties) and
 * never reused: a removed node's slot stays dead. Resources are dimensions — 0 cpu, 1 memory,
 * others in the order first seen — and `capacity[d][slot]`, `allocated[d][slot]` hold base
 * units. The columns grow by doubling, so read them through the table, never keep one.
 */
export class NodeTable {
  /** Resource name of each dimension. */
  readonly dimNames: string[] = ['cpu', 'memory'];
  readonly #dimOf = new Map<string, number>([
    ['cpu', CPU],
    ['memory', MEMORY],
  ]);
  capacity: Float64Array[] = [new Float64Array(16), new Float64Array(16)];
  allocated: Float64Array[] = [new Float64Array(16), new Float64Array(16)];

  /** Slots handed out so far (live and dead). */
  slots = 0;
  /** Length of every column. */
  slotCapacity = 16;
  readonly names: string[] = [];
  readonly labels: (Readonly<Record<string, string>> | undefined)[] = [];
  readonly taints: (readonly Taint[] | undefined)[] = [];
  alive = new Uint8Array(16);
  cordoned = new Uint8Array(16);
  /** The 1-minute load average last reported. */
  load = new Float64Array(16);
  /** Cpu (millicores) placed since the load was last reported: counted as load by `lowest-load`. */
  addedCpu = new Float64Array(16);
  podCount = new Int32Array(16);
  /** Host ports in use, by slot. */
  readonly ports: (Set<number> | undefined)[] = [];
  readonly #slotOf = new Map<string, number>();
  /** Live slots by their labels. */
  readonly labelIndex = new LabelIndex<number>();
  liveNodes = 0;
  /** Called after the columns grew to `slotCapacity`. */
  onGrow: (size: number) => void = () => undefined;
  readonly #quantityCache = new Map<string, number>();

  /** The slot of a live node, or undefined. */
  slotOf(name: string): number | undefined {
    return this.#slotOf.get(name);
  }

  /** The slot of a live node. @throws SchedulerError `unknown-node` */
  slotOrThrow(name: string): number {
    const slot = this.#slotOf.get(name);
    if (slot === undefined) throw new SchedulerError('unknown-node', `no node called ${JSON.stringify(name)}`);
    return slot;
  }

  /** The dimension of a resource named `resource`, or undefined when no node or pod has used it. */
  dimOf(resource: string): number | undefined {
    return this.#dimOf.get(resource);
  }

  /** Adds a node in a new slot and returns the slot. */
  add(node: Node): number {
    const name = checkNode(node);
    if (this.#slotOf.has(name)) throw new SchedulerError('duplicate-node', `node ${JSON.stringify(name)} already exists`);
    const slot = this.slots++;
    this.#ensureSlots(this.slots);
    this.names[slot] = name;
    this.#slotOf.set(name, slot);
    this.alive[slot] = 1;
    this.liveNodes++;
    this.write(slot, node, true);
    return slot;
  }

  /** Kills a slot. */
  remove(slot: number): void {
    this.alive[slot] = 0;
    this.liveNodes--;
    this.#slotOf.delete(this.names[slot]!);
    this.labelIndex.remove(slot);
  }

  /**
   * Writes a node's labels, taints, cordon, load, capacity and allocation into its slot
   * (`fresh`: a new node, whose pod count and ports start empty). The caller has taken the
   * slot out of the label index when it was there.
   */
  write(slot: number, node: Node, fresh: boolean): void {
    const labels = node.labels ?? {};
    this.labels[slot] = { ...labels };
    this.taints[slot] = node.taints === undefined || node.taints.length === 0 ? undefined : node.taints.map((t) => ({ ...t }));
    this.cordoned[slot] = node.unschedulable === true ? 1 : 0;
    const load = node.loadAverage ?? 0;
    if (typeof load !== 'number' || !Number.isFinite(load) || load < 0) {
      throw new SchedulerError('invalid-node', `node ${JSON.stringify(node.name)}: loadAverage must be a finite number ≥ 0`);
    }
    this.load[slot] = load;
    this.addedCpu[slot] = 0;
    for (let d = 0; d < this.dimNames.length; d++) {
      this.capacity[d]![slot] = 0;
      this.allocated[d]![slot] = 0;
    }
    for (const [resource, value] of Object.entries(node.capacity)) {
      if (value === undefined) continue;
      this.capacity[this.dim(resource)]![slot] = this.baseUnits(resource, value);
    }
    for (const [resource, value] of Object.entries(node.allocated ?? {})) {
      if (value === undefined) continue;
      this.allocated[this.dim(resource)]![slot] = this.baseUnits(resource, value);
    }
    if (fresh) {
      this.podCount[slot] = 0;
      this.ports[slot] = undefined;
    }
    this.labelIndex.add(slot, labels);
  }

  /** An empty node: no pods and nothing allocated (binpack opens one only when no node in use fits). */
  isEmpty(slot: number): boolean {
    if (this.podCount[slot]! !== 0) return false;
    for (const allocated of this.allocated) if (allocated[slot]! !== 0) return false;
    return true;
  }

  /** The dimension of a resource, added (with zeroed columns) on first use. */
  dim(resource: string): number {
    let d = this.#dimOf.get(resource);
    if (d === undefined) {
      d = this.dimNames.length;
      this.dimNames.push(resource);
      this.#dimOf.set(resource, d);
      this.capacity.push(new Float64Array(this.slotCapacity));
      this.allocated.push(new Float64Array(this.slotCapacity));
    }
    return d;
  }

  /** A number or quantity string in the resource's base units (quantity strings are parsed once). */
  baseUnits(resource: string, value: number | string): number {
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

  #ensureSlots(size: number): void {
    if (size <= this.slotCapacity) return;
    let capacity = this.slotCapacity;
    while (capacity < size) capacity *= 2;
    this.slotCapacity = capacity;
    this.capacity = this.capacity.map((a) => growFloat64(a, capacity));
    this.allocated = this.allocated.map((a) => growFloat64(a, capacity));
    this.alive = Uint8Array.from({ length: capacity }, (_, i) => this.alive[i] ?? 0);
    this.cordoned = Uint8Array.from({ length: capacity }, (_, i) => this.cordoned[i] ?? 0);
    this.load = growFloat64(this.load, capacity);
    this.addedCpu = growFloat64(this.addedCpu, capacity);
    this.podCount = growInt32(this.podCount, capacity, 0);
    this.onGrow(capacity);
  }
}

/** Checks a node's shape; returns its name. */
export function checkNode(node: Node): string {
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

/** A copy of `array` with `size` entries, the new ones `fill`. */
export function growInt32(array: Int32Array, size: number, fill: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(size).fill(fill);
  next.set(array);
  return next;
}

function growFloat64(array: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(size);
  next.set(array);
  return next;
}
