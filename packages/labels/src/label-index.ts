/**
 * An inverted index over labelled objects, answering selector queries without scanning
 * every object.
 */
import { describeReceived, LabelsError } from './errors.js';
import { entriesOf, type LabelSet } from './labels.js';
import { RequirementImpl, type Requirement } from './requirement.js';
import type { Selector } from './selector.js';

/** Posting lists of one label key: for each value, the slots of the objects that have it. */
interface KeyPostings {
  /** Number of objects that have the key (sum of the value lists' sizes). */
  count: number;
  readonly values: Map<string, Set<number>>;
}

/** How one requirement can produce candidates: a list of posting lists and their total size. */
interface Plan {
  readonly requirement: Requirement;
  readonly lists: readonly Set<number>[];
  readonly size: number;
}

/** Up to this many posting lists, a membership test beats a lookup in the candidate's labels. */
const MEMBERSHIP_LISTS = 4;

function valueTest(requirement: Requirement): (value: string | undefined) => boolean {
  if (requirement instanceof RequirementImpl) return (value) => requirement.matchesValue(value);
  const key = requirement.key;
  return (value) => requirement.matches(value === undefined ? new Map() : new Map([[key, value]]));
}

/**
 * An inverted index of objects by their labels: `select(selector)` returns the ids of the
 * objects whose labels the selector matches — always exactly what filtering every object
 * with `selector.matches` returns.
 *
 * How: for every key, a posting list per value (the objects with `key=value`) and a count of
 * the objects that have the key. A query turns each requirement that can enumerate its
 * matches into posting lists — `=`, `==`, `in` (the lists of its values), `exists` (all
 * lists of the key), `gt`/`lt` (the lists of the values that compare true, each distinct
 * value parsed once), and `!=`/`notin` when every object has the key (the lists of the other
 * values) — starts from the smallest, and checks the remaining requirements on each
 * candidate's labels. `!`, and `!=`/`notin` on a key some objects lack, match objects that
 * lack the key, so they only filter; a selector made only of them scans all objects.
 * A requirement with no possible match answers `[]` at once.
 *
 * Cost: O(distinct values of the planned keys + smallest candidate list × requirements).
 * `add`, `update` and `remove` cost O(labels of the object).
 *
 * The index keeps its own copy of each label set; `select` returns ids in no particular
 * order. `TId` is compared with SameValueZero, as `Map` keys are.
 */
export class LabelIndex<TId = string> {
  readonly #slotOf = new Map<TId, number>();
  readonly #idOf: (TId | undefined)[] = [];
  readonly #labelsOf: (Map<string, string> | undefined)[] = [];
  readonly #freeSlots: number[] = [];
  readonly #postings = new Map<string, KeyPostings>();

  /** Number of objects in the index. */
  get size(): number {
    return this.#slotOf.size;
  }

  /** Is `id` in the index? */
  has(id: TId): boolean {
    return this.#slotOf.has(id);
  }

  /** A copy of the labels of `id`, or `undefined` when it is not in the index. */
  get(id: TId): Record<string, string> | undefined {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) return undefined;
    return Object.fromEntries(this.#labelsOf[slot]!);
  }

  /** Every id in the index, in insertion order. */
  ids(): TId[] {
    return [...this.#slotOf.keys()];
  }

  /**
   * Adds an object.
   *
   * @throws LabelsError with code `duplicate-id` when `id` is already in the index (use
   *   {@link LabelIndex.update} or {@link LabelIndex.set}).
   */
  add(id: TId, labels: LabelSet): void {
    if (this.#slotOf.has(id)) {
      throw new LabelsError('duplicate-id', `LabelIndex.add: id ${String(id)} is already in the index; use update() or set()`);
    }
    const copy = copyLabels(labels);
    const slot = this.#freeSlots.pop() ?? this.#idOf.length;
    this.#slotOf.set(id, slot);
    this.#idOf[slot] = id;
    this.#labelsOf[slot] = copy;
    for (const [key, value] of copy) this.#post(key, value, slot);
  }

  /**
   * Replaces the labels of an object; only the changed labels touch the posting lists.
   *
   * @throws LabelsError with code `unknown-id` when `id` is not in the index.
   */
  update(id: TId, labels: LabelSet): void {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) {
      throw new LabelsError('unknown-id', `LabelIndex.update: id ${String(id)} is not in the index; use add() or set()`);
    }
    const next = copyLabels(labels);
    const previous = this.#labelsOf[slot]!;
    for (const [key, value] of previous) {
      if (next.get(key) !== value) this.#unpost(key, value, slot);
    }
    for (const [key, value] of next) {
      if (previous.get(key) !== value) this.#post(key, value, slot);
    }
    this.#labelsOf[slot] = next;
  }

  /** Adds the object, or replaces its labels when it is already in the index. */
  set(id: TId, labels: LabelSet): void {
    if (this.#slotOf.has(id)) this.update(id, labels);
    else this.add(id, labels);
  }

  /** Removes an object. Returns false when it was not in the index. */
  remove(id: TId): boolean {
    const slot = this.#slotOf.get(id);
    if (slot === undefined) return false;
    for (const [key, value] of this.#labelsOf[slot]!) this.#unpost(key, value, slot);
    this.#slotOf.delete(id);
    this.#idOf[slot] = undefined;
    this.#labelsOf[slot] = undefined;
    this.#freeSlots.push(slot);
    return true;
  }

  /** Removes every object. */
  clear(): void {
    this.#slotOf.clear();
    this.#idOf.length = 0;
    this.#labelsOf.length = 0;
    this.#freeSlots.length = 0;
    this.#postings.clear();
  }

  /** The ids of the objects whose labels `selector` matches (in no particular order). */
  select(selector: Selector): TId[] {
    if (!selector.selectable) return [];
    const requirements = selector.requirements;
    if (requirements.length === 0) return this.ids();
    const total = this.#slotOf.size;
    if (total === 0) return [];

    let best: Plan | undefined;
    // Cheap plans first (sizes known from counts), so the costlier gt/lt plans can be
    // skipped when they cannot beat the best one.
    for (const requirement of requirements) {
      const postings = this.#postings.get(requirement.key);
      switch (requirement.operator) {
        case '=':
        case '==':
        case 'in': {
          const lists: Set<number>[] = [];
          let size = 0;
          const seen = requirement.values.length > 1 ? new Set<string>() : undefined;
          for (const value of requirement.values) {
            if (seen !== undefined) {
              if (seen.has(value)) continue;
              seen.add(value);
            }
            const list = postings?.values.get(value);
            if (list !== undefined) {
              lists.push(list);
              size += list.size;
            }
          }
          if (size === 0) return [];
          if (best === undefined || size < best.size) best = { requirement, lists, size };
          break;
        }
        case 'exists': {
          if (!postings?.count) return [];
          if (best === undefined || postings.count < best.size) {
            best = { requirement, lists: [...postings.values.values()], size: postings.count };
          }
          break;
        }
        case '!':
          if (postings?.count === total) return [];
          break;
        case 'notin':
        case '!=':
        case 'gt':
        case 'lt':
          break;
      }
    }
    for (const requirement of requirements) {
      const postings = this.#postings.get(requirement.key);
      switch (requirement.operator) {
        case 'gt':
        case 'lt': {
          // Objects lacking the key never match.
          if (!postings?.count) return [];
          // Planning costs one test per distinct value: skip it when that costs more than
          // checking the current best candidates.
          if (best !== undefined && postings.values.size >= best.size) break;
          const test = valueTest(requirement);
          const lists: Set<number>[] = [];
          let size = 0;
          for (const [value, list] of postings.values) {
            if (test(value)) {
              lists.push(list);
              size += list.size;
            }
          }
          if (size === 0) return [];
          if (best === undefined || size < best.size) best = { requirement, lists, size };
          break;
        }
        case 'notin':
        case '!=': {
          // Only enumerable when no object lacks the key (those would match too).
          if (postings?.count !== total) break;
          const excluded = new Set(requirement.values);
          let size = postings.count;
          for (const value of excluded) size -= postings.values.get(value)?.size ?? 0;
          if (size === 0) return [];
          if (best !== undefined && size >= best.size) break;
          const lists: Set<number>[] = [];
          for (const [value, list] of postings.values) {
            if (!excluded.has(value)) lists.push(list);
          }
          best = { requirement, lists, size };
          break;
        }
        case '=':
        case '==':
        case 'in':
        case 'exists':
        case '!':
          break;
      }
    }

    const result: TId[] = [];
    const idOf = this.#idOf;
    const labelsOf = this.#labelsOf;
    if (best === undefined) {
      // Only filtering requirements: check every object.
      const tests = requirements.map((requirement) => ({ key: requirement.key, test: valueTest(requirement) }));
      for (let slot = 0; slot < labelsOf.length; slot++) {
        const labels = labelsOf[slot];
        if (labels === undefined) continue;
        if (tests.every(({ key, test }) => test(labels.get(key)))) result.push(idOf[slot]!);
      }
      return result;
    }
    const chosen = best.requirement;
    const restTests: ((slot: number) => boolean)[] = [];
    for (const requirement of requirements) {
      if (requirement !== chosen) restTests.push(this.#slotTest(requirement));
    }
    const restCount = restTests.length;
    for (const list of best.lists) {
      candidates: for (const slot of list) {
        for (let i = 0; i < restCount; i++) {
          if (!restTests[i]!(slot)) continue candidates;
        }
        result.push(idOf[slot]!);
      }
    }
    return result;
  }

  /**
   * A test of one requirement on a candidate slot: membership in a few posting lists for
   * `=`, `==`, `in`, `!=` and `notin` (objects lacking the key are in none, so `!=`/`notin`
   * pass them), else a lookup in the candidate's labels.
   */
  #slotTest(requirement: Requirement): (slot: number) => boolean {
    const postings = this.#postings.get(requirement.key);
    const labelsOf = this.#labelsOf;
    const key = requirement.key;
    const lists = (): Set<number>[] | undefined => {
      const found = new Set<Set<number>>();
      for (const value of requirement.values) {
        const list = postings?.values.get(value);
        if (list !== undefined) found.add(list);
      }
      return found.size <= MEMBERSHIP_LISTS ? [...found] : undefined;
    };
    switch (requirement.operator) {
      case '=':
      case '==':
      case 'in': {
        const sets = lists();
        if (sets === undefined) break;
        if (sets.length === 1) {
          const only = sets[0]!;
          return (slot) => only.has(slot);
        }
        return (slot) => sets.some((set) => set.has(slot));
      }
      case '!=':
      case 'notin': {
        const sets = lists();
        if (sets === undefined) break;
        if (sets.length === 0) return () => true;
        if (sets.length === 1) {
          const only = sets[0]!;
          return (slot) => !only.has(slot);
        }
        return (slot) => !sets.some((set) => set.has(slot));
      }
      case 'exists':
      case '!':
      case 'gt':
      case 'lt':
        break;
    }
    const test = valueTest(requirement);
    return (slot) => test(labelsOf[slot]!.get(key));
  }

  #post(key: string, value: string, slot: number): void {
    let postings = this.#postings.get(key);
    if (postings === undefined) {
      postings = { count: 0, values: new Map() };
      this.#postings.set(key, postings);
    }
    let list = postings.values.get(value);
    if (list === undefined) {
      list = new Set();
      postings.values.set(value, list);
    }
    list.add(slot);
    postings.count++;
  }

  #unpost(key: string, value: string, slot: number): void {
    const postings = this.#postings.get(key)!;
    const list = postings.values.get(value)!;
    list.delete(slot);
    postings.count--;
    if (list.size === 0) postings.values.delete(value);
    if (postings.count === 0) this.#postings.delete(key);
  }
}

function copyLabels(labels: LabelSet): Map<string, string> {
  const copy = new Map<string, string>();
  for (const [key, value] of entriesOf(labels)) {
    if (typeof value !== 'string') {
      throw new TypeError(`Expected label ${JSON.stringify(key)} to be a string, received ${describeReceived(value)}`);
    }
    copy.set(key, value);
  }
  return copy;
}
