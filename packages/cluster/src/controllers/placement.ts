/**
 * Placement of new instances with @flotilla/scheduler on the live cluster state: ready
 * hosts become nodes (capacity in scheduler units, cordons, taints, load), instances
 * already placed are bound first (so requests, anti-affinity and spread count them),
 * then each new instance is placed with `scheduleOne`.
 */
import { ClusterState, scheduleOne, type Node, type Pod } from '@flotilla/scheduler';
import { toSchedulerUnits } from '../manifest/quantity.js';
import type { Host, Instance, InstanceTemplateSpec, Placement } from '../manifest/types.js';
import { stableJson } from './template.js';

/** One instance to place. */
export interface PlacementRequest {
  name: string;
  labels: Record<string, string>;
  template: InstanceTemplateSpec;
}

/** The outcome for a batch: hosts for those placed, reasons (in Kubernetes' words) for the others. */
export interface PlacementResult {
  assignments: Map<string, string>;
  unschedulable: { name: string; message: string }[];
}

/** Places a batch of new instances given the hosts and the instances already placed. */
export type Placer = (input: { hosts: readonly Host[]; placed: readonly Instance[]; pods: readonly PlacementRequest[]; strategy: Placement }) => PlacementResult;

/** The scheduler node for a host. */
export function hostToNode(host: Host): Node {
  return {
    name: host.metadata.name,
    labels: { 'kubernetes.io/hostname': host.metadata.name, ...host.metadata.labels },
    capacity: toSchedulerUnits(host.spec.capacity ?? {}),
    ...(host.spec.taints ? { taints: host.spec.taints } : {}),
    ...(host.status?.load1 !== undefined ? { loadAverage: host.status.load1 } : {}),
    unschedulable: host.spec.unschedulable === true,
  };
}

/** The scheduler pod for an instance template. */
export function templateToPod(name: string, labels: Record<string, string>, t: InstanceTemplateSpec): Pod {
  return {
    name,
    labels,
    requests: toSchedulerUnits(t.resources ?? {}),
    ...(t.nodeSelector ? { nodeSelector: t.nodeSelector } : {}),
    ...(t.tolerations ? { tolerations: t.tolerations } : {}),
    ...(t.antiAffinity ? { antiAffinity: t.antiAffinity as Pod['antiAffinity'] } : {}),
    ...(t.spread ? { spread: t.spread as Pod['spread'] } : {}),
  };
}

/** The default {@link Placer}: @flotilla/scheduler's `ClusterState` and `scheduleOne`. */
export const schedulerPlacer: Placer = ({ hosts, placed, pods, strategy }) => {
  const state = new ClusterState(hosts.map(hostToNode));
  for (const i of placed) {
    if (!state.hasNode(i.spec.host) || state.hasPod(i.metadata.name)) continue;
    state.addPod(templateToPod(i.metadata.name, i.metadata.labels ?? {}, i.spec.template), i.spec.host);
  }
  const assignments = new Map<string, string>();
  const unschedulable: { name: string; message: string }[] = [];
  for (const p of pods) {
    const r = scheduleOne(templateToPod(p.name, p.labels, p.template), state, { strategy });
    if (r.scheduled) assignments.set(p.name, r.node);
    else unschedulable.push({ name: p.name, message: r.message });
  }
  return { assignments, unschedulable };
};

/**
 * A {@link Placer} that keeps its scheduler `ClusterState` from one call to the next, as
 * kube-scheduler keeps its cache, for callers that pass the same (unchanged) objects again —
 * the controllers' informer caches do. {@link schedulerPlacer} rebuilds the state from every
 * placed instance on each call: O(instances) per replica-set reconcile, which dominated the
 * controller's profile at scale. This one, per call:
 * - rebuilds only when the hosts changed (another list, or any host object replaced);
 * - binds a placed instance only when it is new or replaced (compared by identity), and
 *   unbinds the ones no longer placed (deleted or terminating);
 * - keeps the instances it placed itself bound (assumed) until the next call, which drops
 *   those that were not created.
 * Its answers are those of `schedulerPlacer` on the same input. Not for objects that are
 * mutated in place (a mutated instance would not be seen as changed).
 */
export function incrementalPlacer(): Placer {
  let state: ClusterState | undefined;
  let hostRefs: readonly Host[] = [];
  /** Instances the state accounts for, by name: the object bound, or null when assumed (placed by a previous call). */
  const bound = new Map<string, Instance | null>();
  return ({ hosts, placed, pods, strategy }) => {
    if (state === undefined || hosts.length !== hostRefs.length || hosts.some((h, k) => h !== hostRefs[k])) {
      state = new ClusterState(hosts.map(hostToNode));
      hostRefs = [...hosts];
      bound.clear();
    }
    const st = state;
    let matched = 0;
    let added = 0;
    for (const i of placed) {
      const name = i.metadata.name;
      const prev = bound.get(name);
      if (prev === i) {
        matched++;
        continue;
      }
      if (prev === undefined) added++;
      else {
        matched++;
        st.removePod(name);
      }
      bound.set(name, i);
      if (st.hasNode(i.spec.host) && !st.hasPod(name)) st.addPod(templateToPod(name, i.metadata.labels ?? {}, i.spec.template), i.spec.host);
    }
    if (bound.size > matched + added) {
      // some were not placed this time (deleted, terminating, or assumed and never created)
      const names = new Set(placed.map((i) => i.metadata.name));
      for (const name of bound.keys())
        if (!names.has(name)) {
          st.removePod(name);
          bound.delete(name);
        }
    }
    const assignments = new Map<string, string>();
    const unschedulable: { name: string; message: string }[] = [];
    for (const p of pods) {
      const r = scheduleOne(templateToPod(p.name, p.labels, p.template), st, { strategy });
      if (r.scheduled) {
        assignments.set(p.name, r.node);
        bound.set(p.name, null);
      } else unschedulable.push({ name: p.name, message: r.message });
    }
    return { assignments, unschedulable };
  };
}

/**
 * Where {@link planPlacement} places: whether to wait for hosts, which names are taken, and the
 * placement itself (counting the instances already placed). A {@link PlacementCache} is one,
 * fed by the informers' events; {@link listPlacement} makes one of a host list, an instance
 * list and a {@link Placer}.
 */
export interface PlacementView {
  /** Some host has no status yet (not probed): place nothing until every host has one. */
  waitingForHosts(): boolean;
  /** Is there an instance of this name (placed or not, terminating included), or one placed and not yet created? */
  taken(name: string): boolean;
  /** Places the pods on the Ready hosts, counting the instances already placed (and those placed by earlier calls, until created or forgotten). */
  place(pods: readonly PlacementRequest[], strategy: Placement): PlacementResult;
}

/** A {@link PlacementView} of lists: every host, the instances placed (not terminating), and a placer (schedulerPlacer: a fresh scheduler state per call). */
export function listPlacement(hosts: readonly Host[], placed: readonly Instance[], placer: Placer): PlacementView {
  let names: Set<string> | undefined;
  return {
    waitingForHosts: () => hosts.some((h) => h.status === undefined),
    taken: (name) => (names ??= new Set(placed.map((i) => i.metadata.name))).has(name),
    place: (pods, strategy) => placer({ hosts: hosts.filter((h) => h.status?.ready === true), placed, pods, strategy }),
  };
}

interface CachedHost {
  host: Host;
  /** Order of first sight (a host deleted and added again comes last, as in an informer's list). */
  rank: number;
  /** `stableJson` of its scheduler node while Ready; '' when not Ready. */
  node: string;
}

/**
 * The controller's scheduler cache, as kube-scheduler's is fed by its informers: hosts and
 * instances come in as events (`setHost`/`removeHost`, `setInstance`/`removeInstance`), the
 * scheduler's `ClusterState` is updated by each — one pod bound or unbound per instance
 * change, one node added or removed per host readiness change — and a placement
 * ({@link PlacementCache.place}) costs the new pods only, not a pass over every instance.
 * What it places is assumed (bound) until the instance's own event arrives (confirmed) or
 * the caller forgets it ({@link PlacementCache.forget}: its create failed).
 *
 * Its answers are exactly those of `schedulerPlacer` given the Ready hosts in the order the
 * cache first saw them and every placed (non-terminating) instance plus the assumed ones:
 * a Ready host changing its node (capacity, labels, taints, cordon, load), or one returning
 * to Ready ahead of the last one in that order, makes the state be rebuilt (O(instances),
 * lazily, at the next placement); everything else is incremental.
 *
 * ```ts
 * const cache = new PlacementCache();
 * hostsInformer.addHandler({ onEvent: (e) => (e.type === 'deleted' ? cache.removeHost(e.object.metadata.name) : cache.setHost(e.object)) });
 * instancesInformer.addHandler({ onEvent: (e) => (e.type === 'deleted' ? cache.removeInstance(e.object.metadata.name) : cache.setInstance(e.object)) });
 * const { assignments } = cache.place([{ name: 'web-x1', labels: { app: 'web' }, template }], 'spread');
 * ```
 */
export class PlacementCache implements PlacementView {
  readonly #hosts = new Map<string, CachedHost>();
  #rank = 0;
  /** Hosts without a status (not probed yet). */
  #unprobed = 0;
  /** The scheduler state; undefined: rebuild at the next placement. */
  #state: ClusterState | undefined;
  /** The highest rank of a node added to the state (a Ready host of a higher rank can be appended). */
  #lastRank = 0;
  /** Every instance seen, by name (terminating ones included). */
  readonly #instances = new Map<string, Instance>();
  /** Placed here and not yet seen as an instance: name → host and pod. */
  readonly #assumed = new Map<string, { host: string; pod: Pod }>();
  /** Names bound or to bind on each host: placed (non-terminating) instances and assumed ones. */
  readonly #onHost = new Map<string, Set<string>>();
  /** How many times the state was built from scratch (for tests and profiles). */
  rebuilds = 0;

  waitingForHosts(): boolean {
    return this.#unprobed > 0;
  }

  taken(name: string): boolean {
    return this.#instances.has(name) || this.#assumed.has(name);
  }

  /** A host was added or changed. */
  setHost(host: Host): void {
    const name = host.metadata.name;
    const was = this.#hosts.get(name);
    const ready = host.status?.ready === true;
    const node = ready ? stableJson(hostToNode(host)) : '';
    if (was?.host.status === undefined && was !== undefined) this.#unprobed--;
    if (host.status === undefined) this.#unprobed++;
    if (was === undefined) {
      const entry = { host, rank: ++this.#rank, node };
      this.#hosts.set(name, entry);
      if (ready) this.#addNode(entry);
      return;
    }
    was.host = host;
    const prev = was.node;
    was.node = node;
    if (prev === node) return;
    if (prev !== '' && node === '') this.#state?.removeNode(name);
    else if (prev === '' && node !== '') this.#addNode(was);
    else this.#state = undefined; // a Ready host's node changed: rebuild (exactly as from scratch)
  }

  /** A host was deleted. */
  removeHost(name: string): void {
    const was = this.#hosts.get(name);
    if (was === undefined) return;
    if (was.host.status === undefined) this.#unprobed--;
    if (was.node !== '') this.#state?.removeNode(name);
    this.#hosts.delete(name);
  }

  /** Appends a host that became Ready as a node with its instances, when it is last in order; else the state is rebuilt later. */
  #addNode(entry: CachedHost): void {
    const state = this.#state;
    if (state === undefined) return;
    if (entry.rank < this.#lastRank) {
      this.#state = undefined;
      return;
    }
    const name = entry.host.metadata.name;
    state.addNode(hostToNode(entry.host));
    this.#lastRank = entry.rank;
    for (const pod of this.#onHost.get(name) ?? []) this.#bind(state, pod, name);
  }

  /** Binds a placed or assumed instance to its host's node, when the host is a node. */
  #bind(state: ClusterState, name: string, host: string): void {
    if (!state.hasNode(host) || state.hasPod(name)) return;
    const assumed = this.#assumed.get(name);
    if (assumed !== undefined) state.addPod(assumed.pod, host);
    else {
      const i = this.#instances.get(name)!;
      state.addPod(templateToPod(name, i.metadata.labels ?? {}, i.spec.template), host);
    }
  }

  #index(name: string, host: string): void {
    let names = this.#onHost.get(host);
    if (names === undefined) this.#onHost.set(host, (names = new Set()));
    names.add(name);
  }

  #unindex(name: string, host: string): void {
    const names = this.#onHost.get(host);
    if (names === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#onHost.delete(host);
  }

  /** An instance was added or changed (a terminating one is no longer placed). */
  setInstance(i: Instance): void {
    const name = i.metadata.name;
    const placed = i.metadata.deletionTimestamp === undefined;
    const assumed = this.#assumed.get(name);
    if (assumed !== undefined) {
      // the instance placed here, created: keep its binding when it is what was placed
      this.#assumed.delete(name);
      this.#instances.set(name, i);
      if (placed && i.spec.host === assumed.host && samePod(assumed.pod, i)) return;
      this.#unindex(name, assumed.host);
      this.#state?.removePod(name);
    } else {
      const prev = this.#instances.get(name);
      this.#instances.set(name, i);
      if (prev !== undefined && prev.metadata.deletionTimestamp === undefined) {
        if (placed && prev.spec.host === i.spec.host && sameTemplate(prev, i)) return; // a status change
        this.#unindex(name, prev.spec.host);
        this.#state?.removePod(name);
      }
    }
    if (!placed) return;
    this.#index(name, i.spec.host);
    if (this.#state !== undefined) this.#bind(this.#state, name, i.spec.host);
  }

  /** An instance was deleted. */
  removeInstance(name: string): void {
    const prev = this.#instances.get(name);
    if (prev !== undefined) {
      this.#instances.delete(name);
      if (prev.metadata.deletionTimestamp === undefined) {
        this.#unindex(name, prev.spec.host);
        this.#state?.removePod(name);
      }
    }
    const assumed = this.#assumed.get(name);
    if (assumed !== undefined) {
      this.#assumed.delete(name);
      this.#unindex(name, assumed.host);
      this.#state?.removePod(name);
    }
  }

  /** Drops placements of this cache that were not created (no-op for names already seen as instances). */
  forget(names: Iterable<string>): void {
    for (const name of names) {
      const assumed = this.#assumed.get(name);
      if (assumed === undefined) continue;
      this.#assumed.delete(name);
      this.#unindex(name, assumed.host);
      this.#state?.removePod(name);
    }
  }

  /** How many instances the cache counts as placed (created or assumed). */
  get placed(): number {
    let n = 0;
    for (const names of this.#onHost.values()) n += names.size;
    return n;
  }

  place(pods: readonly PlacementRequest[], strategy: Placement): PlacementResult {
    const state = this.#state ?? this.#rebuild();
    const assignments = new Map<string, string>();
    const unschedulable: { name: string; message: string }[] = [];
    for (const p of pods) {
      const pod = templateToPod(p.name, p.labels, p.template);
      const r = scheduleOne(pod, state, { strategy });
      if (r.scheduled) {
        assignments.set(p.name, r.node);
        this.#assumed.set(p.name, { host: r.node, pod });
        this.#index(p.name, r.node);
      } else unschedulable.push({ name: p.name, message: r.message });
    }
    return { assignments, unschedulable };
  }

  #rebuild(): ClusterState {
    this.rebuilds++;
    const state = new ClusterState();
    this.#state = state;
    this.#lastRank = 0;
    for (const entry of this.#hosts.values()) {
      if (entry.node === '') continue;
      state.addNode(hostToNode(entry.host));
      this.#lastRank = entry.rank;
    }
    for (const [host, names] of this.#onHost) if (state.hasNode(host)) for (const name of names) this.#bind(state, name, host);
    return state;
  }
}

function sameTemplate(a: Instance, b: Instance): boolean {
  return (a.spec.template === b.spec.template || JSON.stringify(a.spec.template) === JSON.stringify(b.spec.template)) && JSON.stringify(a.metadata.labels ?? {}) === JSON.stringify(b.metadata.labels ?? {});
}

function samePod(pod: Pod, i: Instance): boolean {
  return JSON.stringify(pod) === JSON.stringify(templateToPod(i.metadata.name, i.metadata.labels ?? {}, i.spec.template));
}

/** Requests of the instances on each host, in scheduler units (for `get hosts`). */
export function allocatedByHost(instances: readonly Instance[]): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const i of instances) {
    if (i.metadata.deletionTimestamp !== undefined) continue;
    const sum = out.get(i.spec.host) ?? {};
    for (const [k, v] of Object.entries(toSchedulerUnits(i.spec.template.resources ?? {}))) sum[k] = (sum[k] ?? 0) + v;
    out.set(i.spec.host, sum);
  }
  return out;
}
