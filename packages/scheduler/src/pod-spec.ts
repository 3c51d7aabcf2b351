/**
 * Pods compiled against a ClusterState: requests in base units on the state's dimensions,
 * node selector and tolerations parsed, anti-affinity terms and spread constraints resolved
 * to topology trackers. Pods of one template share a compiled form's parts.
 */
import { selectorFromSet, type Selector } from '@flotilla/labels';
import type { CandidateSet } from './candidate-index.js';
import { SchedulerError, describeReceived } from './errors.js';
import type { NodeTable } from './node-table.js';
import { CPU } from './node-table.js';
import { nodeSelectorToSelector, podSelectorToSelector } from './selectors.js';
import { UNSCHEDULABLE_TAINT, tolerationsTolerate } from './taints.js';
import type { Tracker, Trackers } from './topology.js';
import type { Pod, ResourceList, SpreadConstraint, Toleration } from './types.js';

/** One spread constraint of a pod, resolved. */
export interface SpreadRule {
  readonly tracker: Tracker;
  readonly maxSkew: number;
  /** 1 when the pod matches its own constraint's selector (it counts itself once placed). */
  readonly selfMatch: number;
  /** The domains over which skew is measured (those of nodes the pod's node selector allows). */
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
  /** Pods with the same key have the same candidate set (node selector and tolerations). */
  readonly setKey: string;
  readonly toleratesCordon: boolean;
  readonly ports: readonly number[] | undefined;
  /** Per anti-affinity term: the count tracker of the pods the term keeps away. */
  readonly antiAffinityTerms: Tracker[];
  /** Per anti-affinity term: the owner tracker in which this pod counts once placed. */
  readonly antiAffinityOwners: Tracker[];
  readonly spread: SpreadRule[];
  /** The count trackers whose selectors match this pod (it counts in them once placed). */
  countedIn: Tracker[];
  /** The owner trackers whose selectors match this pod: their owners' domains refuse it. */
  repelledBy: Tracker[];
  /** The trackers' version `countedIn` and `repelledBy` were found at. */
  trackersVersion: number;
  /** Has a filter whose answer changes as pods are placed (anti-affinity, spread, host ports). */
  dependsOnPlacements: boolean;
  /**
   * The candidate set last used, and the candidate index's generation it belongs to (-1:
   * none). Set in the object literal that makes the spec, as every field is, so that all
   * specs share one hidden class (see the note on shapes in state.ts).
   */
  lastSet: CandidateSet | undefined;
  lastSetGeneration: number;
}

/** A pod bound to a node. */
export interface PodRecord {
  readonly name: string;
  readonly slot: number;
  readonly spec: PodSpec;
}

const EVERY_NODE = { selector: selectorFromSet({}), key: '' };

/**
 * Compiles pods. What it parses from a pod's node selector, tolerations, anti-affinity terms
 * and spread selectors is cached by the identity of those objects (pods made from one
 * template share them, so each is parsed once): they are taken as immutable.
 */
export class PodCompiler {
  readonly #nodes: NodeTable;
  readonly #trackers: Trackers;
  readonly #nodeSelectors = new WeakMap<object, { selector: Selector; key: string }>();
  readonly #tolerationKeys = new WeakMap<object, string>();
  readonly #termTrackers = new WeakMap<object, { topologyKey: string; count: Tracker; owner: Tracker }>();
  readonly #podSelectors = new WeakMap<object, Selector>();
  readonly #appSelectors = new Map<string | undefined, Selector>();

  constructor(nodes: NodeTable, trackers: Trackers) {
    this.#nodes = nodes;
    this.#trackers = trackers;
  }

  /** Compiles a pod, registering the trackers its anti-affinity terms and spread constraints need. */
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
      const amount = this.#nodes.baseUnits(resource, value);
      if (amount <= 0) continue;
      const d = this.#nodes.dim(resource);
      dims.push(d);
      amounts.push(amount);
      if (d === CPU) cpu = amount;
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
    const antiAffinityTerms: Tracker[] = [];
    const antiAffinityOwners: Tracker[] = [];
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
          count: this.#trackers.countTracker(termSelector, t.topologyKey),
          owner: this.#trackers.ownerTracker(termSelector, t.topologyKey),
        };
        this.#termTrackers.set(t, cached);
      }
      antiAffinityTerms.push(cached.count);
      antiAffinityOwners.push(cached.owner);
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
      const tracker = this.#trackers.countTracker(spreadSelector, constraint.topologyKey);
      spread.push({
        tracker,
        maxSkew: constraint.maxSkew,
        selfMatch: spreadSelector.matches(labels) ? 1 : 0,
        eligible: this.#trackers.eligible(tracker.topology, selector, selectorKey),
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
      antiAffinityTerms,
      antiAffinityOwners,
      spread,
      countedIn: [],
      repelledBy: [],
      trackersVersion: -1,
      dependsOnPlacements: false,
      lastSet: undefined,
      lastSetGeneration: -1,
    };
    this.refresh(spec);
    return spec;
  }

  /** Brings a compiled pod up to date with trackers registered since it was compiled. */
  refresh(spec: PodSpec): void {
    if (spec.trackersVersion === this.#trackers.version) return;
    spec.countedIn = this.#trackers.countingFor(spec.labels);
    spec.repelledBy = this.#trackers.ownersSelecting(spec.labels);
    spec.trackersVersion = this.#trackers.version;
    spec.dependsOnPlacements =
      spec.antiAffinityTerms.length > 0 || spec.spread.length > 0 || spec.ports !== undefined || spec.repelledBy.length > 0;
  }

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
}

/** The amount of dimension `d` a pod requests (0 when it requests none). */
export function requestOf(spec: PodSpec, d: number): number {
  const dims = spec.dims;
  for (let i = 0; i < dims.length; i++) if (dims[i] === d) return spec.amounts[i]!;
  return 0;
}

function toArray<T extends object>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}
