/**
 * The candidate index: for each candidate set (the nodes a pod template may use by node
 * selector, taints and cordon), the nodes sorted by free capacity so that a decision finds
 * the best node without scoring every node — a grid of free fractions for binpack, a heap for
 * spread — and answers exactly what scoring every node answers.
 *
 * A little over 600 lines on purpose: the two searches and the placement of nodes into
 * classes, groups and cells share one layout (`CandidateSet`'s per-slot arrays); the grid's
 * geometry, the heap and the bitsets already live beside it (free-grid.ts, group-heap.ts,
 * bitset.ts).
 */
import { clearBit, nextSetBit, nextSetInRow, prevSetInRow, rowHasAny, setBit } from './bitset.js';
import { nodeResourcesFit, nodeUnschedulable, placementFiltersPass, taintToleration } from './filters.js';
import { heapPush, heapRemove, type HeapEntry } from './group-heap.js';
import { CPU, MEMORY, type NodeTable } from './node-table.js';
import type { DecideOptions, ResolvedWeights } from './options.js';
import type { PodSpec } from './pod-spec.js';
import { freeFraction, nodeScore } from './scores.js';
import {
  CELL_FREE_HIGH,
  CELL_FREE_LOW,
  GRID_SIZE,
  WORDS_PER_ROW,
  cellOfNode,
  firstCellWithRoom,
} from './free-grid.js';
import { countIntolerablePreferNoSchedule } from './taints.js';

/** Where a node is in a set's index (`cellOf`): a grid cell (≥ 0), or one of these. */
const IN_EMPTY_BITS = -1;
const NOT_PLACED = -2;
const IN_HEAP = -3;

/** Candidate sets at most this large are scored node by node (an index would not pay off). */
export const SCORE_EVERY_NODE_UP_TO = 32;

// ---------------------------------------------------------------------------------------
// Shapes

/**
 * Nodes in use of one class with exactly the same allocation: they score alike and fit a
 * pod alike (but for anti-affinity, spread and ports), so a search checks one and takes the
 * first by node order.
 */
interface AllocationGroup extends HeapEntry {
  /** Hash of the allocation (groups with equal hashes are chained through `next`). */
  readonly hash: number;
  /** The allocation: cpu, memory, and the other dimensions (undefined when there are none). */
  readonly cpu: number;
  readonly memory: number;
  readonly otherDims: Float64Array | undefined;
  next: AllocationGroup | undefined;
  /** Grid cell, or IN_HEAP. */
  readonly cell: number;
  /** Position in the cell's list. */
  cellPos: number;
  readonly slots: number[];
  /** The lowest slot, or -1 when it must be recomputed. */
  lowestSlot: number;
  /** Weighted free fraction (the same for every member; the heap's key, 0 in the grid). */
  readonly freeFraction: number;
}

/** Nodes of one candidate set with the same capacity and PreferNoSchedule count. */
interface NodeClass {
  readonly capacity: Float64Array;
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
  /** The non-empty cells of the grid (by i·GRID_SIZE + j): groups of identical nodes. */
  readonly cells: Map<number, AllocationGroup[]>;
  /** The groups, by a hash of their allocation (collisions chained). */
  readonly groups: Map<number, AllocationGroup>;
  /** Per row, WORDS_PER_ROW words: which cells of the row are non-empty. */
  readonly rowBits: Uint32Array;
  /** Which rows have any non-empty cell. */
  readonly rowOccupied: Uint32Array;
  /** Spread index: a max-heap of the groups by free fraction. */
  readonly heap: AllocationGroup[];
  /** Binpack: the empty nodes, by position in `members` (binpack opens one only when no node in use fits). */
  readonly emptyBits: Uint32Array;
  /** No empty node before this position. */
  firstEmptyHint: number;
  emptyCount: number;
  inUseCount: number;
}

/** The nodes a pod template may use by node selector, taints and cordon, for one strategy's index and one set of weights. */
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
  /** By slot: class index, position in the class, grid cell (or IN_EMPTY_BITS, NOT_PLACED, IN_HEAP) and position in it. */
  classOf: Int32Array<ArrayBufferLike>;
  localOf: Int32Array<ArrayBufferLike>;
  cellOf: Int32Array<ArrayBufferLike>;
  posOf: Int32Array<ArrayBufferLike>;
  groupOf: (AllocationGroup | undefined)[];
}

/**
 * Nodes taken out of a candidate set's index while one group of identical pods is placed:
 * a node without room for one copy has no room for the next (a batch only adds), so it
 * need not be looked at again until the group is done; `putBack` returns them.
 */
export interface SetAside {
  set: CandidateSet | undefined;
  readonly slots: number[];
}

// ---------------------------------------------------------------------------------------

/**
 * Candidate sets and their indexes. Within a set, nodes with the same capacity and
 * PreferNoSchedule count form a class; within a class the resource score is a monotone
 * function of the weighted free fraction f (scores.ts), so the best node in use is the one
 * with the least f (binpack) or the most f (spread) that passes every filter. Nodes with
 * exactly the same allocation form a group that is checked once.
 *
 * Node changes drop every set (`invalidate`; rebuilt on demand in O(nodes)); a placement or
 * removal moves the node within the sets that hold it (`reposition`).
 */
export class CandidateIndex {
  readonly #nodes: NodeTable;
  #sets = new Map<string, CandidateSet>();
  #setsOfNode: CandidateSet[][] = [];
  /** Grows whenever the sets are dropped: a set remembered from an older generation is stale. */
  generation = 0;
  // Scratch space of the grid search: the occupied rows with room, each with its next column.
  readonly #activeRow = new Int32Array(GRID_SIZE);
  readonly #activeCol = new Int32Array(GRID_SIZE);
  // Scratch space of the heap walk: heap positions whose parents were visited and they not yet.
  readonly #heapToVisit: number[] = [];

  constructor(nodes: NodeTable) {
    this.#nodes = nodes;
  }

  /** Drops every set (nodes changed). */
  invalidate(): void {
    this.generation++;
    this.#sets = new Map();
    this.#setsOfNode = [];
  }

  /** The candidate set of a pod for these weights and index kind, built on first use (not yet indexed). */
  candidateSet(spec: PodSpec, weights: ResolvedWeights, heap: boolean): CandidateSet {
    const key = `${spec.setKey}\u0002${weights.key}\u0002${heap ? 'h' : 'g'}`;
    let set = this.#sets.get(key);
    if (set !== undefined) return set;
    const nodes = this.#nodes;
    const selected = spec.selector.isEmpty() ? null : nodes.labelIndex.select(spec.selector).sort((a, b) => a - b);
    const members: number[] = [];
    const taintCount = new Map<number, number>();
    let maxTaintCount = 0;
    // NodeUnschedulable and TaintToleration (NodeAffinity is the label index's selection).
    const consider = (slot: number): void => {
      if (!nodes.alive[slot]) return;
      if (!nodeUnschedulable(nodes, slot, spec)) return;
      const taints = nodes.taints[slot];
      if (taints !== undefined) {
        if (taintToleration(nodes, slot, spec) !== undefined) return;
        const count = countIntolerablePreferNoSchedule(taints, spec.tolerations);
        if (count > 0) {
          taintCount.set(slot, count);
          if (count > maxTaintCount) maxTaintCount = count;
        }
      }
      members.push(slot);
    };
    if (selected === null) for (let slot = 0; slot < nodes.slots; slot++) consider(slot);
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
      groupOf: [],
    };
    this.#sets.set(key, set);
    return set;
  }

  /** Is the set large enough for its index to pay off? */
  static worthIndexing(set: CandidateSet): boolean {
    return set.members.length > SCORE_EVERY_NODE_UP_TO;
  }

  /** Builds a set's index (classes, grid cells or heap, empty bits) unless it has one. */
  ensureIndexed(set: CandidateSet): void {
    if (set.indexed) return;
    set.indexed = true;
    const nodes = this.#nodes;
    const weights = set.weights;
    const size = nodes.slotCapacity;
    set.classOf = new Int32Array(size).fill(-1);
    set.localOf = new Int32Array(size).fill(-1);
    set.cellOf = new Int32Array(size).fill(NOT_PLACED);
    set.posOf = new Int32Array(size).fill(-1);
    set.groupOf = new Array<AllocationGroup | undefined>(size);
    const byKey = new Map<string, number[]>();
    const dimCount = nodes.dimNames.length;
    for (const slot of set.members) {
      let key = `${set.taintCount.get(slot) ?? 0}`;
      for (let d = 0; d < dimCount; d++) key += `,${nodes.capacity[d]![slot]!}`;
      let list = byKey.get(key);
      if (list === undefined) byKey.set(key, (list = []));
      list.push(slot);
    }
    const weightCount = weights.resourceNames.length;
    for (const list of byKey.values()) {
      const first = list[0]!;
      const capacity = new Float64Array(dimCount);
      for (let d = 0; d < dimCount; d++) capacity[d] = nodes.capacity[d]![first]!;
      let weightSum = 0;
      const axisDims = [-1, -1];
      const axisWeights = [0, 0];
      let wRest = 0;
      for (let j = 0; j < weightCount; j++) {
        const d = nodes.dimOf(weights.resourceNames[j]!) ?? -1;
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
        weightSum,
        xDim: axisDims[0]!,
        yDim: axisDims[1]!,
        wx: axisWeights[0]!,
        wy: axisWeights[1]!,
        wRest,
        members: Int32Array.from(list),
        cells: new Map<number, AllocationGroup[]>(),
        groups: new Map(),
        heap: [],
        rowBits: new Uint32Array(GRID_SIZE * WORDS_PER_ROW),
        rowOccupied: new Uint32Array(WORDS_PER_ROW),
        emptyBits: new Uint32Array((list.length + 31) >>> 5),
        firstEmptyHint: 0,
        emptyCount: 0,
        inUseCount: 0,
      };
      const classIndex = set.classes.length;
      set.classes.push(cls);
      for (let i = 0; i < list.length; i++) {
        const slot = list[i]!;
        set.classOf[slot] = classIndex;
        set.localOf[slot] = i;
        (this.#setsOfNode[slot] ??= []).push(set);
        this.#place(set, cls, slot);
      }
    }
  }

  /** A node's allocation changed: moves it within every indexed set that holds it. */
  reposition(slot: number): void {
    const sets = this.#setsOfNode[slot];
    if (sets === undefined) return;
    for (const set of sets) {
      const cls = set.classes[set.classOf[slot]!]!;
      const empty = !set.heap && this.#nodes.isEmpty(slot);
      if (empty && set.cellOf[slot] === IN_EMPTY_BITS) continue;
      const group = set.groupOf[slot];
      if (group !== undefined && !empty && this.#sameAllocation(group, slot)) continue;
      this.#unplace(set, cls, slot);
      this.#place(set, cls, slot);
    }
  }

  /** Puts the nodes set aside back into the index. */
  putBack(aside: SetAside): void {
    const set = aside.set;
    if (set === undefined || this.#sets.get(set.key) !== set) return;
    for (const slot of aside.slots) {
      if (set.cellOf[slot] === NOT_PLACED && this.#nodes.alive[slot]) this.#place(set, set.classes[set.classOf[slot]!]!, slot);
    }
    aside.slots.length = 0;
  }

  /**
   * The binpack search (and spread's without a heap). Per class, cells are visited in order
   * of their bound on f, skipping rows and columns with too little room for the pod, until
   * no unvisited cell can beat the best node found; each visited cell is scanned exactly.
   * The classes' winners are compared by full score (ties: lowest node order). For binpack,
   * empty nodes are considered only when no node in use fits. Groups found without room are
   * set aside in `aside` when given.
   */
  bestInGrid(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[], aside: SetAside | undefined): number {
    const nodes = this.#nodes;
    const binpack = options.strategy === 'binpack';
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    const activeRow = this.#activeRow;
    const activeCol = this.#activeCol;
    for (const cls of set.classes) {
      if (cls.inUseCount === 0 || !classCanFit(cls, spec)) continue;
      const i0 = firstCellWithRoom(cls.capacity, cls.xDim, spec);
      const j0 = firstCellWithRoom(cls.capacity, cls.yDim, spec);
      const scale = cls.weightSum > 0 ? 1 / cls.weightSum : 0;
      let clsBest = -1;
      let clsScore = Number.NEGATIVE_INFINITY;
      let clsF = binpack ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      let active = 0;
      for (let i = nextSetBit(cls.rowOccupied, i0); i !== -1; i = nextSetBit(cls.rowOccupied, i + 1)) {
        const j = binpack
          ? nextSetInRow(cls.rowBits, WORDS_PER_ROW, i, j0)
          : prevSetInRow(cls.rowBits, WORDS_PER_ROW, i, GRID_SIZE - 1, j0);
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
            ? (cls.wx * CELL_FREE_LOW[i]! + cls.wy * CELL_FREE_LOW[j]!) * scale
            : (cls.wx * CELL_FREE_HIGH[i]! + cls.wy * CELL_FREE_HIGH[j]! + cls.wRest) * scale;
          if (binpack ? b < bound : b > bound) {
            bound = b;
            pick = k;
          }
        }
        if (pick < 0) break;
        if (binpack ? bound > clsF + 1e-12 : bound < clsF - 1e-12) break;
        const row = activeRow[pick]!;
        const col = activeCol[pick]!;
        const list = cls.cells.get(row * GRID_SIZE + col)!;
        let full: AllocationGroup[] | undefined;
        for (const group of list) {
          if (!nodeResourcesFit(nodes, group.slots[0]!, spec)) {
            if (aside !== undefined) (full ??= []).push(group);
            continue;
          }
          const slot = firstPassing(nodes, group, spec, mins);
          if (slot < 0) continue;
          const f = freeFraction(nodes, slot, options.weights);
          if (binpack ? f < clsF : f > clsF) clsF = f;
          const s = nodeScore(nodes, slot, spec, set, options, binpack);
          if (s > clsScore || (s === clsScore && slot < clsBest)) {
            clsBest = slot;
            clsScore = s;
          }
        }
        if (full !== undefined) {
          for (const group of full) {
            for (const slot of [...group.slots]) {
              this.#unplace(set, cls, slot);
              aside!.slots.push(slot);
            }
          }
        }
        activeCol[pick] = binpack
          ? nextSetInRow(cls.rowBits, WORDS_PER_ROW, row, col + 1)
          : prevSetInRow(cls.rowBits, WORDS_PER_ROW, row, col - 1, j0);
      }
      if (clsBest >= 0 && (clsScore > bestScore || (clsScore === bestScore && clsBest < best))) {
        best = clsBest;
        bestScore = clsScore;
      }
    }
    if (binpack && best >= 0) return best;
    for (const cls of set.classes) {
      if (cls.emptyCount === 0 || !classCanFit(cls, spec)) continue;
      let local = nextSetBit(cls.emptyBits, cls.firstEmptyHint);
      if (local === -1) continue;
      cls.firstEmptyHint = local;
      while (local !== -1) {
        const slot = cls.members[local]!;
        if (placementFiltersPass(nodes, slot, spec, mins)) {
          const s = nodeScore(nodes, slot, spec, set, options, false);
          if (s > bestScore || (s === bestScore && slot < best)) {
            best = slot;
            bestScore = s;
          }
          break;
        }
        local = nextSetBit(cls.emptyBits, local + 1);
      }
    }
    return best;
  }

  /**
   * The spread search: per class, a best-first walk of the max-heap of groups by free
   * fraction f (least-allocated = 100·(f − r) is monotone in f) pops groups in decreasing f —
   * a group's children never have more room — and stops at the first group whose score falls
   * below the best feasible one found (groups scoring the same are all looked at, for the tie
   * rule).
   */
  bestInHeap(set: CandidateSet, spec: PodSpec, options: DecideOptions, mins: number[]): number {
    const nodes = this.#nodes;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    const toVisit = this.#heapToVisit;
    for (const cls of set.classes) {
      const heap = cls.heap;
      if (heap.length === 0 || !classCanFit(cls, spec)) continue;
      let clsBest = -1;
      let clsScore = Number.NEGATIVE_INFINITY;
      toVisit.length = 0;
      toVisit.push(0);
      while (toVisit.length > 0) {
        // Take the position with the most room (the list stays small).
        let at = 0;
        for (let k = 1; k < toVisit.length; k++) if (heap[toVisit[k]!]!.freeFraction > heap[toVisit[at]!]!.freeFraction) at = k;
        const h = toVisit[at]!;
        toVisit[at] = toVisit[toVisit.length - 1]!;
        toVisit.pop();
        const group = heap[h]!;
        const first = group.slots[0]!;
        if (clsBest >= 0 && nodeScore(nodes, first, spec, set, options, false) < clsScore) break;
        if (nodeResourcesFit(nodes, first, spec)) {
          const slot = firstPassing(nodes, group, spec, mins);
          if (slot >= 0) {
            const s = nodeScore(nodes, slot, spec, set, options, false);
            if (s > clsScore || (s === clsScore && slot < clsBest)) {
              clsBest = slot;
              clsScore = s;
            }
          }
        }
        if (2 * h + 1 < heap.length) toVisit.push(2 * h + 1);
        if (2 * h + 2 < heap.length) toVisit.push(2 * h + 2);
      }
      if (clsBest >= 0 && (clsScore > bestScore || (clsScore === bestScore && clsBest < best))) {
        best = clsBest;
        bestScore = clsScore;
      }
    }
    return best;
  }

  /** Puts a node (not currently placed) into its class's empty bits, grid cell or heap. */
  #place(set: CandidateSet, cls: NodeClass, slot: number): void {
    const nodes = this.#nodes;
    const allocated = nodes.allocated;
    if (!set.heap && nodes.isEmpty(slot)) {
      const local = set.localOf[slot]!;
      setBit(cls.emptyBits, local);
      if (local < cls.firstEmptyHint) cls.firstEmptyHint = local;
      cls.emptyCount++;
      set.cellOf[slot] = IN_EMPTY_BITS;
      return;
    }
    const hash = this.#allocationHash(slot);
    let group = this.#findGroup(cls, hash, slot);
    if (group === undefined) {
      const cpu = allocated[CPU]![slot]!;
      const memory = allocated[MEMORY]![slot]!;
      let otherDims: Float64Array | undefined;
      for (let d = 2; d < allocated.length; d++) {
        if (allocated[d]![slot]! !== 0) {
          otherDims = Float64Array.from(allocated.slice(2), (column) => column[slot]!);
          break;
        }
      }
      if (set.heap) {
        const created: AllocationGroup = {
          hash,
          cpu,
          memory,
          otherDims,
          next: undefined,
          cell: IN_HEAP,
          cellPos: -1,
          slots: [],
          lowestSlot: slot,
          freeFraction: freeFraction(nodes, slot, set.weights),
          heapPos: -1,
        };
        heapPush(cls.heap, created);
        group = created;
      } else {
        const i = cellOfNode(nodes, slot, cls.capacity, cls.xDim);
        const j = cellOfNode(nodes, slot, cls.capacity, cls.yDim);
        const cell = i * GRID_SIZE + j;
        let list = cls.cells.get(cell);
        if (list === undefined) cls.cells.set(cell, (list = []));
        group = { hash, cpu, memory, otherDims, next: undefined, cell, cellPos: list.length, slots: [], lowestSlot: slot, freeFraction: 0, heapPos: -1 };
        list.push(group);
        cls.rowBits[i * WORDS_PER_ROW + (j >>> 5)]! |= 1 << (j & 31);
        setBit(cls.rowOccupied, i);
      }
      group.next = cls.groups.get(hash);
      cls.groups.set(hash, group);
    } else if (group.lowestSlot >= 0 && slot < group.lowestSlot) {
      group.lowestSlot = slot;
    }
    set.cellOf[slot] = group.cell;
    set.posOf[slot] = group.slots.length;
    set.groupOf[slot] = group;
    group.slots.push(slot);
    cls.inUseCount++;
  }

  #unplace(set: CandidateSet, cls: NodeClass, slot: number): void {
    const cell = set.cellOf[slot]!;
    if (cell === IN_EMPTY_BITS) {
      clearBit(cls.emptyBits, set.localOf[slot]!);
      cls.emptyCount--;
    } else if (cell >= 0 || cell === IN_HEAP) {
      const group = set.groupOf[slot]!;
      const pos = set.posOf[slot]!;
      const last = group.slots.pop()!;
      if (last !== slot) {
        group.slots[pos] = last;
        set.posOf[last] = pos;
      }
      if (group.lowestSlot === slot) group.lowestSlot = -1;
      set.groupOf[slot] = undefined;
      if (group.slots.length === 0) {
        const head = cls.groups.get(group.hash)!;
        if (head === group) {
          if (group.next === undefined) cls.groups.delete(group.hash);
          else cls.groups.set(group.hash, group.next);
        } else {
          let previous = head;
          while (previous.next !== group) previous = previous.next!;
          previous.next = group.next;
        }
        if (cell === IN_HEAP) {
          heapRemove(cls.heap, group.heapPos);
        } else {
          const list = cls.cells.get(cell)!;
          const moved = list.pop()!;
          if (moved !== group) {
            list[group.cellPos] = moved;
            moved.cellPos = group.cellPos;
          }
          if (list.length === 0) {
            const i = (cell / GRID_SIZE) | 0;
            const j = cell % GRID_SIZE;
            cls.rowBits[i * WORDS_PER_ROW + (j >>> 5)]! &= ~(1 << (j & 31));
            if (!rowHasAny(cls.rowBits, WORDS_PER_ROW, i)) clearBit(cls.rowOccupied, i);
          }
        }
      }
      cls.inUseCount--;
    }
    set.cellOf[slot] = NOT_PLACED;
  }

  #allocationHash(slot: number): number {
    let hash = 0;
    for (const allocated of this.#nodes.allocated) hash = hash * 31 + allocated[slot]!;
    return hash;
  }

  #sameAllocation(group: AllocationGroup, slot: number): boolean {
    const allocated = this.#nodes.allocated;
    if (group.cpu !== allocated[CPU]![slot]! || group.memory !== allocated[MEMORY]![slot]!) return false;
    const dims = allocated.length;
    for (let d = 2; d < dims; d++) if ((group.otherDims?.[d - 2] ?? 0) !== allocated[d]![slot]!) return false;
    return true;
  }

  #findGroup(cls: NodeClass, hash: number, slot: number): AllocationGroup | undefined {
    for (let group = cls.groups.get(hash); group !== undefined; group = group.next) {
      if (this.#sameAllocation(group, slot)) return group;
    }
    return undefined;
  }
}

/**
 * The group's first node by order that passes the filters that change with placements (its
 * members pass the others alike), or -1. A pod without such filters takes the lowest slot.
 */
function firstPassing(nodes: NodeTable, group: AllocationGroup, spec: PodSpec, mins: number[]): number {
  if (!spec.dependsOnPlacements) {
    if (group.lowestSlot < 0) {
      let lowest = group.slots[0]!;
      for (const candidate of group.slots) if (candidate < lowest) lowest = candidate;
      group.lowestSlot = lowest;
    }
    return group.lowestSlot;
  }
  let slot = -1;
  for (const candidate of group.slots) {
    if ((slot < 0 || candidate < slot) && placementFiltersPass(nodes, candidate, spec, mins)) slot = candidate;
  }
  return slot;
}

/** Could a node of this class hold the pod when empty? */
function classCanFit(cls: NodeClass, spec: PodSpec): boolean {
  for (let i = 0; i < spec.dims.length; i++) {
    if (spec.amounts[i]! > (cls.capacity[spec.dims[i]!] ?? 0)) return false;
  }
  return true;
}
