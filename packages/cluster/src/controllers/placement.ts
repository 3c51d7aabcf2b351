/**
 * Placement of new instances with @flotilla/scheduler on the live cluster state: ready
 * hosts become nodes (capacity in scheduler units, cordons, taints, load), instances
 * already placed are bound first (so requests, anti-affinity and spread count them),
 * then each new instance is placed with `scheduleOne`.
 */
import { ClusterState, scheduleOne, type Node, type Pod } from '@flotilla/scheduler';
import { toSchedulerUnits } from '../manifest/quantity.js';
import type { Host, Instance, InstanceTemplateSpec, Placement } from '../manifest/types.js';

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
