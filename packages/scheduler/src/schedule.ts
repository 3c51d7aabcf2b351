/**
 * `schedule` (a whole batch) and `scheduleOne` (one pod against a live ClusterState).
 */
import { SchedulerError, describeReceived } from './errors.js';
import type { SetAside } from './candidate-index.js';
import { checkStrategy, resolveWeights, type DecideOptions } from './options.js';
import type { PodSpec } from './pod-spec.js';
import { ClusterState } from './state.js';
import type { Node, Pod, ScheduleResult, ScoreWeights, Strategy, Unschedulable } from './types.js';

/** Input of {@link schedule}. */
export interface ScheduleInput {
  readonly nodes: readonly Node[];
  readonly pods: readonly Pod[];
  /** How to choose among nodes that pass every filter. @default 'spread' */
  readonly strategy?: Strategy;
  /** Score weights. @default { strategy: 1, balancedAllocation: 0, taintToleration: 1, resources: { cpu: 1, memory: 1 } } */
  readonly weights?: ScoreWeights;
  /**
   * Score every candidate node for every pod instead of using the index. The result is the
   * same (the index is exact); this is the reference the tests compare against.
   * @default false
   */
  readonly exhaustive?: boolean;
  /** Called for each pod as it is decided, in placement order (`node` undefined when unschedulable). */
  readonly onDecision?: (pod: Pod, node: string | undefined) => void;
}

/** Options of {@link scheduleOne}. */
export interface ScheduleOneOptions {
  /** @default 'spread' */
  readonly strategy?: Strategy;
  /** @default as in {@link ScheduleInput.weights} */
  readonly weights?: ScoreWeights;
  /**
   * Bind the pod in the state when it is placed (kube-scheduler's "assume"), so the next
   * decision counts it. Set false to only ask.
   * @default true
   */
  readonly assume?: boolean;
  /** @default false */
  readonly exhaustive?: boolean;
}

/** The result of {@link scheduleOne}. */
export type ScheduleOneResult =
  | { readonly scheduled: true; readonly node: string }
  | { readonly scheduled: false; readonly reasons: string[]; readonly message: string };

function decideOptions(strategy: unknown, weights: ScoreWeights | undefined, exhaustive: unknown): DecideOptions {
  if (exhaustive !== undefined && typeof exhaustive !== 'boolean') {
    throw new TypeError(`Expected exhaustive as a boolean, received ${describeReceived(exhaustive)}`);
  }
  return { strategy: checkStrategy(strategy ?? 'spread'), weights: resolveWeights(weights), exhaustive: exhaustive === true };
}

/**
 * Places one pod on the best node of a live {@link ClusterState}, or says why it fits
 * nowhere. With `assume` (the default) the pod is bound in the state.
 *
 * @throws SchedulerError `duplicate-pod` when a pod of that name is already bound; for a
 *   malformed pod; TypeError for bad options.
 */
export function scheduleOne(pod: Pod, state: ClusterState, options: ScheduleOneOptions = {}): ScheduleOneResult {
  if (!(state instanceof ClusterState)) throw new TypeError(`Expected a ClusterState, received ${describeReceived(state)}`);
  const decide = decideOptions(options.strategy, options.weights, options.exhaustive);
  if (state.hasPod(pod.name)) throw new SchedulerError('duplicate-pod', `pod ${JSON.stringify(pod.name)} is already bound`);
  const spec = state.compile(pod);
  const decision = state.decide(spec, decide);
  if (decision.node < 0) {
    const failed = decision as { reasons: string[]; message: string };
    return { scheduled: false, reasons: failed.reasons, message: failed.message };
  }
  if (options.assume !== false) state.bind(pod.name, spec, decision.node);
  return { scheduled: true, node: state.nameOf(decision.node) };
}

interface Group {
  readonly pods: number[];
  spec: PodSpec | undefined;
  share: number;
}

/** A cheap key under which pods are interchangeable for placement (same requests, selector, tolerations, labels when they count). */
function groupKey(pod: Pod, withLabels: boolean, labelKeys: readonly string[]): string {
  const requests = pod.requests as Readonly<Record<string, unknown>> | undefined;
  let key = '';
  if (requests !== undefined && requests !== null && typeof requests === 'object') {
    for (const resource in requests) {
      const value = requests[resource];
      if (value === undefined) continue;
      key += `${resource}=${typeof value === 'string' ? `"${value}"` : (value as number)};`;
    }
  } else if (requests !== undefined) {
    key += `!${typeof requests}`;
  }
  if (pod.nodeSelector !== undefined) key += `|s${JSON.stringify(pod.nodeSelector)}`;
  if (pod.tolerations !== undefined && pod.tolerations.length > 0) key += `|t${JSON.stringify(pod.tolerations)}`;
  if (withLabels && pod.labels !== undefined) {
    for (const k of labelKeys) {
      const value = pod.labels[k];
      key += value === undefined ? '|-' : `|=${value}`;
    }
  }
  return key;
}

/** Stands for an absent label in a one-key group key (label values cannot contain NUL). */
const MISSING_LABEL = '\u0000';

function isCpuMemoryOnly(requests: Readonly<Record<string, unknown>>): boolean {
  if (typeof requests.cpu !== 'number' || typeof requests.memory !== 'number') return false;
  let keys = 0;
  for (const _ in requests) keys++;
  return keys === 2;
}

function isArray(value: unknown): boolean {
  return Array.isArray(value);
}

function hasDynamicConstraints(pod: Pod): boolean {
  return (
    pod.antiAffinity !== undefined ||
    pod.spread !== undefined ||
    (pod.hostPorts !== undefined && pod.hostPorts.length > 0)
  );
}

/**
 * Places a batch of pods onto nodes.
 *
 * Order: pods are placed largest first by their dominant share (the largest fraction of the
 * cluster's total capacity any one of their requests takes, as in Dominant Resource
 * Fairness), ties in input order — so big pods find room before small ones fragment it.
 * Every placement honours every filter counting the pods placed before it in the batch;
 * every pod ends up exactly once in `assignments` or in `unschedulable` (with Kubernetes'
 * reasons at the moment it was considered).
 *
 * Speed: pods that are interchangeable (same requests, node selector and tolerations, and no
 * anti-affinity, spread or host ports) are placed as a group; with `binpack` the node that
 * wins for one copy stays the best for the next until it is full, so a whole run of copies
 * is placed with one search. Searches use label-indexed candidate sets and a bucketed
 * free-capacity index (see the README); neither changes the result.
 *
 * @throws SchedulerError `duplicate-node`/`duplicate-pod` for repeated names, or for
 *   malformed nodes, pods, quantities and selectors; TypeError for bad options.
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  if (typeof input !== 'object' || input === null) {
    throw new TypeError(`Expected { nodes, pods, strategy }, received ${describeReceived(input)}`);
  }
  const nodes: readonly Node[] = input.nodes;
  const pods: readonly Pod[] = input.pods;
  const onDecision = input.onDecision;
  if (!isArray(nodes)) throw new TypeError(`Expected nodes as an array, received ${describeReceived(nodes)}`);
  if (!isArray(pods)) throw new TypeError(`Expected pods as an array, received ${describeReceived(pods)}`);
  if (onDecision !== undefined && typeof onDecision !== 'function') {
    throw new TypeError(`Expected onDecision as a function, received ${describeReceived(onDecision)}`);
  }
  const options = decideOptions(input.strategy, input.weights, input.exhaustive);
  const state = new ClusterState(nodes);

  // Register every anti-affinity term and spread selector first, so counting is complete
  // from the first placement and pod specs never go stale within the batch.
  const dynamicSpecs = new Map<number, PodSpec>();
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i]!;
    if (typeof pod === 'object' && pod !== null && hasDynamicConstraints(pod)) dynamicSpecs.set(i, state.compile(pod));
  }
  const withLabels = state.tracksLabels;
  // Labels matter only through the trackers, and only the keys their selectors look at.
  const labelKeys = state.trackedLabelKeys();

  // Group interchangeable pods.
  const groups: Group[] = [];
  const byKey = new Map<string, Group>();
  // The common case — numeric cpu and memory only, no selector, no tolerations — keyed by numbers.
  const byNumbers = new Map<number, Map<number, Map<string, Group>>>();
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i]!;
    if (typeof pod !== 'object' || pod === null) throw new TypeError(`Expected pods[${i}] as a pod object, received ${describeReceived(pod)}`);
    if (typeof pod.name !== 'string' || pod.name === '') {
      throw new SchedulerError('invalid-pod', `pods[${i}] needs a non-empty string name, received ${describeReceived(pod.name)}`);
    }
    if (hasDynamicConstraints(pod)) {
      groups.push({ pods: [i], spec: dynamicSpecs.get(i), share: 0 });
      continue;
    }
    const requests = pod.requests as Readonly<Record<string, unknown>> | undefined;
    if (
      pod.nodeSelector === undefined &&
      (pod.tolerations === undefined || pod.tolerations.length === 0) &&
      requests !== undefined &&
      isCpuMemoryOnly(requests)
    ) {
      const cpu = requests.cpu as number;
      const memory = requests.memory as number;
      let byMemory = byNumbers.get(cpu);
      if (byMemory === undefined) byNumbers.set(cpu, (byMemory = new Map<number, Map<string, Group>>()));
      let byLabels = byMemory.get(memory);
      if (byLabels === undefined) byMemory.set(memory, (byLabels = new Map<string, Group>()));
      let labelsKey = '';
      if (withLabels) {
        const labels = pod.labels ?? {};
        if (labelKeys.length === 1) {
          // One key: its value is the key (no new string); a missing label gets a key no value can equal.
          labelsKey = labels[labelKeys[0]!] ?? MISSING_LABEL;
        } else {
          for (const k of labelKeys) {
            const value = labels[k];
            labelsKey += value === undefined ? '|-' : `|=${value}`;
          }
        }
      }
      let group = byLabels.get(labelsKey);
      if (group === undefined) {
        group = { pods: [], spec: undefined, share: 0 };
        byLabels.set(labelsKey, group);
        groups.push(group);
      }
      group.pods.push(i);
      continue;
    }
    const key = groupKey(pod, withLabels, labelKeys);
    let group = byKey.get(key);
    if (group === undefined) {
      group = { pods: [], spec: undefined, share: 0 };
      byKey.set(key, group);
      groups.push(group);
    }
    group.pods.push(i);
  }

  // Compile one pod per group and order the groups by dominant share.
  const totals = state.totalCapacity();
  for (const group of groups) {
    const spec = group.spec ?? state.compile(pods[group.pods[0]!]!);
    group.spec = spec;
    let share = 0;
    for (let i = 0; i < spec.dims.length; i++) {
      const total = totals[spec.dims[i]!] ?? 0;
      const s = total > 0 ? spec.amounts[i]! / total : Number.POSITIVE_INFINITY;
      if (s > share) share = s;
    }
    group.share = share;
  }
  groups.sort((a, b) => b.share - a.share || a.pods[0]! - b.pods[0]!);

  const assignments = new Map<string, string>();
  const unschedulable: Unschedulable[] = [];
  const fill = options.strategy === 'binpack' && options.weights.balancedAllocation === 0;
  for (const group of groups) {
    const spec = group.spec!;
    const members = group.pods;
    // Nodes found full for one copy are set aside until the group is done (see SetAside).
    const aside: SetAside | undefined = spec.dependsOnPlacements || members.length === 1 ? undefined : { set: undefined, slots: [] };
    let i = 0;
    while (i < members.length) {
      const decision = state.decide(spec, options, aside);
      if (decision.node < 0) {
        const failed = decision as { reasons: string[]; message: string };
        // Nothing changes until something is placed, so the rest of the group fails alike.
        for (; i < members.length; i++) {
          const pod = pods[members[i]!]!;
          unschedulable.push({ pod: pod.name, reasons: [...failed.reasons], message: failed.message });
          onDecision?.(pod, undefined);
        }
        break;
      }
      const slot = decision.node;
      const k = fill && !spec.dependsOnPlacements ? Math.max(1, state.fitCount(slot, spec, members.length - i)) : 1;
      const nodeName = state.nameOf(slot);
      for (let j = 0; j < k; j++) {
        const pod = pods[members[i + j]!]!;
        assignments.set(pod.name, nodeName);
        onDecision?.(pod, nodeName);
      }
      state.commit(slot, spec, k);
      i += k;
    }
    if (aside !== undefined) state.putBack(aside);
  }

  if (assignments.size + unschedulable.length !== pods.length) {
    const seen = new Set<string>();
    for (const pod of pods) {
      if (seen.has(pod.name)) throw new SchedulerError('duplicate-pod', `pod ${JSON.stringify(pod.name)} appears more than once`);
      seen.add(pod.name);
    }
  }
  return { assignments, unschedulable };
}
