/**
 * The shapes of `schedule({ nodes, pods, strategy })` (DESIGN.md, scheduler section).
 */
import type { LabelSelector, LabelSelectorRequirement } from '@flotilla/labels';

/**
 * Resource amounts by name. Numbers are base units — `cpu` in millicores, `memory` in MiB,
 * other resources as counts — and strings are Kubernetes quantities (`"500m"`, `"2"`,
 * `"256Mi"`, `"1Gi"`), converted exactly (see {@link parseQuantity}).
 */
export type ResourceList = Readonly<Record<string, number | string | undefined>>;

/** A taint's effect, as in Kubernetes. */
export type TaintEffect = 'NoSchedule' | 'NoExecute' | 'PreferNoSchedule';

/** A node taint: pods that do not tolerate it may not (or, for PreferNoSchedule, prefer not to) run there. */
export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: TaintEffect;
}

/**
 * A pod toleration, with Kubernetes' semantics: an empty `key` with `Exists` tolerates
 * every taint; an empty `effect` matches every effect; `operator` defaults to `Equal`.
 */
export interface Toleration {
  readonly key?: string;
  /** @default 'Equal' */
  readonly operator?: 'Equal' | 'Exists';
  readonly value?: string;
  readonly effect?: TaintEffect;
}

/** A node (host). */
export interface Node {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Allocatable capacity; a dimension it lacks is 0. */
  readonly capacity: ResourceList;
  /** Already allocated to pods the scheduler does not know about. @default {} */
  readonly allocated?: ResourceList;
  readonly taints?: readonly Taint[];
  /** The 1-minute load average (used by `lowest-load`). @default 0 */
  readonly loadAverage?: number;
  /** Cordoned: no new pods (unless they tolerate `node.kubernetes.io/unschedulable:NoSchedule`). @default false */
  readonly unschedulable?: boolean;
}

/**
 * A label selector requirement of a node selector: Kubernetes' `NodeSelectorRequirement`,
 * i.e. a {@link LabelSelectorRequirement} whose operator may also be `Gt` or `Lt` (one value,
 * an integer).
 */
export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorRequirement['operator'] | 'Gt' | 'Lt';
  readonly values?: readonly string[] | null;
}

/** A structured node selector: `matchLabels` and `matchExpressions` (with Gt/Lt) ANDed. */
export interface NodeLabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | null;
  readonly matchExpressions?: readonly NodeSelectorRequirement[] | null;
}

/**
 * A node selector: a plain label map (every pair must match), or — when the object has a
 * `matchLabels` or `matchExpressions` key — a {@link NodeLabelSelector}.
 */
export type NodeSelector = Readonly<Record<string, string>> | NodeLabelSelector;

/**
 * A required anti-affinity term: the pod may not share a topology domain (the value of
 * `topologyKey` on the node) with any pod matching `labelSelector` — and, symmetrically, a
 * pod matching it may not join a domain where this pod runs.
 */
export interface AntiAffinityTerm {
  /** A label map or a LabelSelector over pod labels. */
  readonly labelSelector: Readonly<Record<string, string>> | LabelSelector;
  /** e.g. `kubernetes.io/hostname` (the node itself) or `topology.kubernetes.io/zone`. */
  readonly topologyKey: string;
}

/** A topology spread constraint (Kubernetes' `whenUnsatisfiable: DoNotSchedule`). */
export interface SpreadConstraint {
  readonly topologyKey: string;
  /** The largest allowed difference between the most and least loaded eligible domains (≥ 1). */
  readonly maxSkew: number;
  /** The pods counted. @default { app: pod.labels.app } */
  readonly labelSelector?: Readonly<Record<string, string>> | LabelSelector;
}

/** A pod (an app instance) to place. */
export interface Pod {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly requests: ResourceList;
  readonly nodeSelector?: NodeSelector;
  readonly tolerations?: readonly Toleration[];
  readonly antiAffinity?: AntiAffinityTerm | readonly AntiAffinityTerm[];
  readonly spread?: SpreadConstraint | readonly SpreadConstraint[];
  readonly hostPorts?: readonly number[];
}

/**
 * How to choose among the nodes that pass every filter:
 * - `binpack`: most-allocated (fill nodes in use; open the roomiest empty node only when none fits);
 * - `spread`: least-allocated;
 * - `lowest-load`: lowest 1-minute load per core, counting the cpu placed in this batch.
 */
export type Strategy = 'binpack' | 'spread' | 'lowest-load';

/** Weights of the score components (each component scores 0–100). */
export interface ScoreWeights {
  /** The strategy's own score (most-allocated, least-allocated or load per core). @default 1 */
  readonly strategy?: number;
  /** Balanced allocation (kube-scheduler's NodeResourcesBalancedAllocation). @default 0 */
  readonly balancedAllocation?: number;
  /** PreferNoSchedule taints (kube-scheduler's TaintToleration score). @default 1 */
  readonly taintToleration?: number;
  /** Per-resource weights inside the resource scores. @default { cpu: 1, memory: 1 } */
  readonly resources?: Readonly<Record<string, number>>;
}

/** A pod that could not be placed. */
export interface Unschedulable {
  readonly pod: string;
  /** Kubernetes' histogram entries, in Kubernetes' order, e.g. `['2 node(s) didn't match Pod's node affinity/selector', '3 Insufficient cpu']`. */
  readonly reasons: string[];
  /** The whole message, e.g. `0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 3 Insufficient cpu.` */
  readonly message: string;
}

/** The result of `schedule`: every pod is in exactly one of the two. */
export interface ScheduleResult {
  /** Pod name → node name. */
  readonly assignments: Map<string, string>;
  readonly unschedulable: Unschedulable[];
}
