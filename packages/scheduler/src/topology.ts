/**
 * Topology trackers: pods counted per topology domain (the value of a key such as
 * `topology.kubernetes.io/zone` on their node), per selector — what PodTopologySpread and
 * InterPodAffinity (anti-affinity) ask about.
 */
import type { Selector } from '@flotilla/labels';
import type { NodeTable } from './node-table.js';
import type { PodRecord } from './pod-spec.js';

/** The topology key that means "the node itself". */
export const HOSTNAME_KEY = 'kubernetes.io/hostname';

/** The domains of one topology key. */
export interface Topology {
  readonly key: string;
  /** Domain id by domain (label value); ids are handed out in order of first sight. */
  readonly ids: Map<string, number>;
  /** Domain id of each node slot; -1 when the node lacks the key. */
  ofNode: Int32Array;
  /** Eligible domain ids per node-selector key (nodes matching the selector that have the key). */
  readonly eligible: Map<string, Int32Array>;
}

/**
 * Pods per topology domain for one pod selector and topology key. Two kinds: a *count*
 * tracker counts the pods the selector matches (spread constraints; the pods an anti-affinity
 * term keeps away), an *owner* tracker counts the pods that carry an anti-affinity term with
 * that selector (which keep matching pods away: the symmetric direction).
 */
export interface Tracker {
  readonly selector: Selector;
  readonly topology: Topology;
  /** Pods by domain id (only domains that have had some). */
  readonly counts: Map<number, number>;
}

/** Does the node in `slot` share a topology domain with a pod the tracker counts? */
export function domainHasAny(tracker: Tracker, slot: number): boolean {
  const domain = tracker.topology.ofNode[slot]!;
  return domain >= 0 && (tracker.counts.get(domain) ?? 0) > 0;
}

/**
 * Every topology and tracker of a ClusterState. Trackers are registered as pods that need
 * them are compiled and never dropped; `version` grows with each registration, so a compiled
 * pod knows when to look again for the trackers that count it.
 */
export class Trackers {
  readonly #nodes: NodeTable;
  readonly #boundPods: () => Iterable<PodRecord>;
  readonly #topologies = new Map<string, Topology>();
  readonly #countTrackers = new Map<string, Tracker>();
  readonly #ownerTrackers = new Map<string, Tracker>();
  readonly #countLookup = new TrackerLookup();
  readonly #ownerLookup = new TrackerLookup();
  /** Grows with every tracker registered. */
  version = 0;

  constructor(nodes: NodeTable, boundPods: () => Iterable<PodRecord>) {
    this.#nodes = nodes;
    this.#boundPods = boundPods;
  }

  /** Are any pods counted (so pod labels matter)? */
  get any(): boolean {
    return this.#countTrackers.size > 0 || this.#ownerTrackers.size > 0;
  }

  /** The label keys that decide which trackers a pod's labels meet (no other label matters). */
  labelKeys(): string[] {
    return [...new Set([...this.#countLookup.keys(), ...this.#ownerLookup.keys()])].sort();
  }

  /** The count trackers whose selector matches these pod labels. */
  countingFor(labels: Readonly<Record<string, string>>): Tracker[] {
    return this.#countLookup.matching(labels);
  }

  /** The owner trackers whose selector matches these pod labels: domains holding their owners refuse the pod. */
  ownersSelecting(labels: Readonly<Record<string, string>>): Tracker[] {
    return this.#ownerLookup.matching(labels);
  }

  /** The count tracker of (selector, topology key), registered on first use. */
  countTracker(selector: Selector, topologyKey: string): Tracker {
    return this.#tracker(this.#countTrackers, selector, topologyKey, false);
  }

  /** The owner tracker of (selector, topology key), registered on first use. */
  ownerTracker(selector: Selector, topologyKey: string): Tracker {
    return this.#tracker(this.#ownerTrackers, selector, topologyKey, true);
  }

  /** Adds `delta` pods on the node in `slot` to a tracker. */
  count(tracker: Tracker, slot: number, delta: number): void {
    const domain = tracker.topology.ofNode[slot]!;
    if (domain < 0) return;
    tracker.counts.set(domain, (tracker.counts.get(domain) ?? 0) + delta);
  }

  /** Domain ids of the nodes matching `selector` that have the topology key (deduplicated, ascending). */
  eligible(topology: Topology, selector: Selector, selectorKey: string): Int32Array {
    let domains = topology.eligible.get(selectorKey);
    if (domains === undefined) {
      const seen = new Set<number>();
      for (const slot of this.#nodes.labelIndex.select(selector)) {
        const id = topology.ofNode[slot]!;
        if (id >= 0) seen.add(id);
      }
      domains = Int32Array.from([...seen].sort((a, b) => a - b));
      topology.eligible.set(selectorKey, domains);
    }
    return domains;
  }

  /** A node was written (added or updated): its domains may have changed. */
  nodeWritten(slot: number): void {
    for (const topology of this.#topologies.values()) topology.ofNode[slot] = this.#domainOf(topology, slot);
  }

  /** A node was removed: it belongs to no domain. */
  nodeRemoved(slot: number): void {
    for (const topology of this.#topologies.values()) topology.ofNode[slot] = -1;
  }

  /** Nodes changed: forget the eligible domains (recomputed when asked). */
  nodesChanged(): void {
    for (const topology of this.#topologies.values()) topology.eligible.clear();
  }

  /** The node columns grew to `size` slots. */
  grow(size: number): void {
    for (const topology of this.#topologies.values()) {
      const ofNode = new Int32Array(size).fill(-1);
      ofNode.set(topology.ofNode);
      topology.ofNode = ofNode;
    }
  }

  #topology(key: string): Topology {
    let topology = this.#topologies.get(key);
    if (topology === undefined) {
      topology = { key, ids: new Map(), ofNode: new Int32Array(this.#nodes.slotCapacity).fill(-1), eligible: new Map() };
      this.#topologies.set(key, topology);
      for (let slot = 0; slot < this.#nodes.slots; slot++) {
        if (this.#nodes.alive[slot]) topology.ofNode[slot] = this.#domainOf(topology, slot);
      }
    }
    return topology;
  }

  #domainOf(topology: Topology, slot: number): number {
    let value = this.#nodes.labels[slot]?.[topology.key];
    if (value === undefined && topology.key === HOSTNAME_KEY) value = this.#nodes.names[slot];
    if (value === undefined) return -1;
    let id = topology.ids.get(value);
    if (id === undefined) {
      id = topology.ids.size;
      topology.ids.set(value, id);
    }
    return id;
  }

  #tracker(map: Map<string, Tracker>, selector: Selector, topologyKey: string, owner: boolean): Tracker {
    const key = `${selector.selectable ? '' : '!'}${selector.toString()}\u0000${topologyKey}`;
    let tracker = map.get(key);
    if (tracker === undefined) {
      const created: Tracker = { selector, topology: this.#topology(topologyKey), counts: new Map<number, number>() };
      tracker = created;
      map.set(key, created);
      (owner ? this.#ownerLookup : this.#countLookup).add(created);
      this.version++;
      // Count the pods already bound.
      for (const record of this.#boundPods()) {
        const domain = created.topology.ofNode[record.slot]!;
        if (domain < 0) continue;
        const counted = owner
          ? record.spec.antiAffinityOwners.some((entry) => entry === created)
          : selector.matches(record.spec.labels);
        if (counted) created.counts.set(domain, (created.counts.get(domain) ?? 0) + 1);
      }
    }
    return tracker;
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
