/**
 * What a replica set's reconcile decides, as data (issue 18): `planReplicaSet` is a pure
 * function of the replica set, its instances and the time; `planPlacement` turns "create n"
 * into instances on hosts. The controller (`manager.ts`) carries the plans out.
 */
import type { ClusterEvent, Host, Instance, InstanceTemplate, ReplicaSet, ReplicaSetStatus } from '../manifest/types.js';
import { API_VERSION } from '../manifest/types.js';
import { listPlacement, type PlacementView, type Placer, type PlacementRequest } from './placement.js';
import { REPLICASET_LABEL, TEMPLATE_HASH_LABEL, resolveIntOrPercent, templateHash } from './template.js';

/** An event the controller records. */
export interface PlannedEvent {
  kind: 'ReplicaSet' | 'Instance';
  name: string;
  type: ClusterEvent['type'];
  reason: string;
  message: string;
}

/** One step of a plan, carried out in order. */
export type ReplicaSetStep =
  | { do: 'event'; event: PlannedEvent }
  /** Mark the instance deleting (its controller stops it, then removes it). */
  | { do: 'delete'; instance: Instance; reason: string };

/** What {@link planReplicaSet} needs. */
export interface ReplicaSetPlanInput {
  /** The replica set, or `undefined` when it was deleted. */
  replicaSet: ReplicaSet | undefined;
  /** Its instances (`spec.replicaSet`), terminating ones included. */
  instances: readonly Instance[];
  /** The time (ms since the epoch). */
  nowMs: number;
  /** How long a new instance of a rollout may take to become ready. */
  progressDeadlineMs: number;
  /** Restarts of a new instance that fail a rollout. */
  rolloutMaxRestarts: number;
}

/** What to do for one replica set. */
export interface ReplicaSetPlan {
  /** Events and deletions, in order. */
  steps: ReplicaSetStep[];
  /** Instances to place and create (after the steps). */
  create: number;
  /**
   * A failed rollout: write this template and status to the replica set (after the steps),
   * and nothing else; reconcile again at once.
   */
  rollback?: { template: InstanceTemplate; status: ReplicaSetStatus };
  /**
   * The status to write once the instances are counted (`replicas`, `readyReplicas` and
   * `observedGeneration` are set by {@link countedStatus}); absent for a deleted replica set.
   */
  status?: ReplicaSetStatus;
  /** The template hash the replica set converges to. */
  templateHash?: string;
  /** Reconcile again after this long (a rollout in progress). */
  requeueAfterMs?: number;
}

/** Health rank for choosing which extras to delete first (lower goes first). */
function healthRank(i: Instance): number {
  const phase = i.status?.phase ?? 'Pending';
  if (phase === 'Pending') return 0;
  if (phase === 'Failed' || phase === 'Unknown') return 1;
  if (!i.status?.ready) return 2;
  return 3;
}

/** Orders instances to delete: least healthy first, then newest first. */
export function deletionOrder(a: Instance, b: Instance): number {
  const r = healthRank(a) - healthRank(b);
  if (r !== 0) return r;
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return ta < tb ? 1 : ta > tb ? -1 : a.metadata.name < b.metadata.name ? 1 : -1;
}

/**
 * Decides what a replica set needs (see the guarantees in `manager.ts`): replace failed
 * instances, create or delete to reach `replicas`, roll a new template out within
 * `maxSurge`/`maxUnavailable`, roll back a rollout whose new instances fail, and the status.
 * Pure: the same input gives the same plan.
 */
export function planReplicaSet(input: ReplicaSetPlanInput): ReplicaSetPlan {
  const { replicaSet: rs, instances: all, nowMs } = input;
  const steps: ReplicaSetStep[] = [];
  if (!rs) {
    for (const i of all) if (i.metadata.deletionTimestamp === undefined) steps.push({ do: 'delete', instance: i, reason: 'replica set deleted' });
    return { steps, create: 0 };
  }
  const name = rs.metadata.name;
  const event = (reason: string, message: string, type: ClusterEvent['type'] = 'Normal', kind: PlannedEvent['kind'] = 'ReplicaSet', about = name): void =>
    void steps.push({ do: 'event', event: { kind, name: about, type, reason, message } });
  const hash = templateHash(rs.spec.template);
  const status: ReplicaSetStatus = structuredClone(rs.status ?? { replicas: 0, readyReplicas: 0, observedGeneration: 0 });
  const history = status.history ?? [];
  if (status.currentTemplateHash !== hash) {
    const rollingBack = status.rollout?.state === 'RolledBack' && status.rollout.to === hash;
    if (!rollingBack && status.currentTemplateHash !== undefined && all.some((i) => i.spec.templateHash !== hash && i.metadata.deletionTimestamp === undefined)) {
      status.rollout = { from: status.currentTemplateHash, to: hash, state: 'Progressing' };
      event('RollingUpdate', `rolling from template ${status.currentTemplateHash} to ${hash}`);
    }
    status.currentTemplateHash = hash;
  }
  const at = history.findIndex((h) => h.hash === hash);
  if (at >= 0) history.splice(at, 1);
  history.push({ hash, template: structuredClone(rs.spec.template) });
  while (history.length > 10) history.shift();
  status.history = history;

  let active = all.filter((i) => i.metadata.deletionTimestamp === undefined);
  const replicas = rs.spec.replicas;
  let requeueAfterMs: number | undefined;

  // A rollout whose new instances fail rolls back to the template it came from.
  if (status.rollout?.state === 'Progressing') {
    const threshold = (h: Instance): number => h.spec.template.healthCheck?.failureThreshold ?? 3;
    const bad = active.find(
      (i) =>
        i.spec.templateHash === hash &&
        (i.status?.phase === 'Failed' ||
          (i.status?.restarts ?? 0) >= input.rolloutMaxRestarts ||
          (i.status?.healthFailures ?? 0) >= threshold(i) ||
          (!i.status?.ready && nowMs - (i.metadata.creationTimestamp !== undefined ? Date.parse(i.metadata.creationTimestamp) : nowMs) > input.progressDeadlineMs)),
    );
    const previous = history.find((h) => h.hash === status.rollout?.from);
    if (bad && previous) {
      const why = bad.status?.phase === 'Failed' ? `failed (${bad.status.message ?? 'exited'})` : bad.status?.ready ? 'crash-looped' : 'did not become ready';
      const message = `instance ${bad.metadata.name} of template ${hash} ${why}: rolling back to ${previous.hash}`;
      event('RolledBack', message, 'Warning');
      return {
        steps,
        create: 0,
        rollback: { template: structuredClone(previous.template), status: { ...status, rollout: { from: hash, to: previous.hash, state: 'RolledBack', message } } },
        templateHash: hash,
        requeueAfterMs: 0,
      };
    }
    requeueAfterMs = Math.min(input.progressDeadlineMs, 2000);
  }

  // Failed instances are replaced.
  for (const i of active.filter((x) => x.status?.phase === 'Failed')) {
    steps.push({ do: 'delete', instance: i, reason: `failed: ${i.status?.message ?? 'exited'}` });
    event('Replaced', `instance failed (${i.status?.message ?? 'exited'}); replacing it`, 'Warning', 'Instance', i.metadata.name);
  }
  active = active.filter((x) => x.status?.phase !== 'Failed');

  const fresh = active.filter((i) => i.spec.templateHash === hash);
  const old = active.filter((i) => i.spec.templateHash !== hash);
  let create = 0;
  const toDelete: Instance[] = [];
  if (old.length === 0) {
    if (fresh.length < replicas) create = replicas - fresh.length;
    else if (fresh.length > replicas) toDelete.push(...[...fresh].sort(deletionOrder).slice(0, fresh.length - replicas));
  } else {
    const maxSurge = resolveIntOrPercent(rs.spec.updateStrategy?.maxSurge, replicas, 1, true);
    let maxUnavailable = resolveIntOrPercent(rs.spec.updateStrategy?.maxUnavailable, replicas, 1, false);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    const total = fresh.length + old.length;
    create = Math.max(0, Math.min(replicas + maxSurge - total, replicas - fresh.length));
    const ready = active.filter((i) => i.status?.ready).length;
    let budget = ready - (replicas - maxUnavailable);
    for (const i of [...old].sort(deletionOrder)) {
      if (!i.status?.ready) toDelete.push(i); // an unready old instance costs no availability
      else if (budget > 0) {
        toDelete.push(i);
        budget--;
      }
    }
    if (fresh.length > replicas) toDelete.push(...[...fresh].sort(deletionOrder).slice(0, fresh.length - replicas));
    requeueAfterMs = Math.min(requeueAfterMs ?? 2000, 2000);
  }
  if (old.length === 0 && status.rollout?.state === 'Progressing' && fresh.filter((i) => i.status?.ready).length >= replicas) {
    status.rollout = { ...status.rollout, state: 'Complete' };
    event('RolloutComplete', `template ${hash} is running on ${replicas} instance(s)`);
  }
  for (const i of toDelete) {
    const scaleDown = i.spec.templateHash === hash;
    steps.push({ do: 'delete', instance: i, reason: scaleDown ? 'scale-down' : 'rolling update' });
    event(scaleDown ? 'ScaledDown' : 'RollingUpdate', `deleting instance ${i.metadata.name} on ${i.spec.host}`);
  }
  return { steps, create, status, templateHash: hash, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}

/** The plan's status with the instances counted: `replicas` and `readyReplicas` of the active (non-terminating) ones, and the generation observed. */
export function countedStatus(plan: ReplicaSetPlan, replicaSet: ReplicaSet, active: readonly Instance[]): ReplicaSetStatus {
  return {
    ...plan.status!,
    replicas: active.length,
    readyReplicas: active.filter((i) => i.status?.ready).length,
    observedGeneration: replicaSet.metadata.generation ?? 1,
  };
}

/** What {@link planPlacement} needs: the replica set and how many to create, and where to place them. */
export type PlacementInput = PlacementCommon &
  (
    | {
        /** Every host (Ready or not). */
        hosts: readonly Host[];
        /** Every instance that is placed and not terminating (of every replica set). */
        placed: readonly Instance[];
        placer: Placer;
      }
    | {
        /** The hosts and instances as a cache keeps them (the controller's `PlacementCache`, fed by its informers): no pass over every instance. */
        view: PlacementView;
      }
  );

/** The part of {@link PlacementInput} common to both forms. */
export interface PlacementCommon {
  replicaSet: ReplicaSet;
  templateHash: string;
  /** How many instances to create. */
  count: number;
  /** Draws a random name suffix (called until a name is free). */
  suffix: () => string;
}

/** The instances to create, and why the others could not be placed. */
export interface PlacementPlan {
  /** The new instances, each bound to its host (`spec.host`), in creation order. */
  instances: Instance[];
  /** Reasons (the scheduler's words) for those not placed. */
  unschedulable: { name: string; message: string }[];
  /** Some host has not been probed yet: nothing is placed until every host has a status. */
  waitingForHosts: boolean;
}

/**
 * Names and places `count` new instances of a replica set on the Ready hosts, counting the
 * instances already placed: with a placer on lists of hosts and instances, or with a
 * {@link PlacementView} (the controller's `PlacementCache`, which checks a name
 * against its instances by key and places with its kept scheduler state, and holds what it
 * placed until the instances are seen or forgotten). Waits (places nothing) while a host has
 * no status yet, rather than reporting it unavailable. Pure but for `suffix` (and the view's
 * state).
 */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const { replicaSet: rs, templateHash: hash } = input;
  const view = 'view' in input ? input.view : listPlacement(input.hosts, input.placed, input.placer);
  if (view.waitingForHosts()) return { instances: [], unschedulable: [], waitingForHosts: true };
  const labels = { ...rs.spec.template.metadata.labels, [REPLICASET_LABEL]: rs.metadata.name, [TEMPLATE_HASH_LABEL]: hash };
  const pods: PlacementRequest[] = [];
  const drawn = new Set<string>();
  for (let k = 0; k < input.count; k++) {
    let n: string;
    do n = `${rs.metadata.name}-${input.suffix()}`;
    while (drawn.has(n) || view.taken(n));
    drawn.add(n);
    pods.push({ name: n, labels, template: rs.spec.template.spec });
  }
  const result = view.place(pods, rs.spec.placement ?? 'spread');
  const instances: Instance[] = [];
  for (const p of pods) {
    const host = result.assignments.get(p.name);
    if (host === undefined) continue;
    instances.push({
      apiVersion: API_VERSION,
      kind: 'Instance',
      metadata: { name: p.name, labels },
      spec: { replicaSet: rs.metadata.name, host, templateHash: hash, template: structuredClone(rs.spec.template.spec) },
      status: { phase: 'Pending', ready: false, ports: {}, restarts: 0 },
    });
  }
  return { instances, unschedulable: result.unschedulable, waitingForHosts: false };
}
