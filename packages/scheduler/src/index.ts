/**
 * `@flotilla/scheduler` — places pods (app instances) onto nodes (hosts): Kubernetes'
 * filters (resources, node selector, taints, anti-affinity, topology spread, host ports,
 * cordons), its scores (most-allocated, least-allocated, balanced allocation, taints) plus
 * lowest load per core, exact and fast.
 *
 * @packageDocumentation
 */
export { schedule, scheduleOne } from './schedule.js';
export type { ScheduleInput, ScheduleOneOptions, ScheduleOneResult } from './schedule.js';
export { ClusterState } from './state.js';
export { HOSTNAME_KEY } from './topology.js';
export { parseQuantity, toBaseUnits, unitOf } from './quantity.js';
export type { ResourceUnit } from './quantity.js';
export {
  MAX_NODE_SCORE,
  mostAllocatedScore,
  leastAllocatedScore,
  balancedAllocationScore,
  taintTolerationScore,
  loadPerCore,
  lowestLoadScore,
} from './scores.js';
export {
  toleratesTaint,
  tolerationsTolerate,
  findUntoleratedTaint,
  countIntolerablePreferNoSchedule,
  UNSCHEDULABLE_TAINT,
} from './taints.js';
export { nodeSelectorToSelector, podSelectorToSelector } from './selectors.js';
export {
  REASON_UNSCHEDULABLE,
  REASON_NODE_SELECTOR,
  REASON_HOST_PORTS,
  REASON_SPREAD,
  REASON_SPREAD_MISSING_LABEL,
  REASON_EXISTING_ANTI_AFFINITY,
  REASON_ANTI_AFFINITY,
  MESSAGE_NO_NODES,
  untoleratedTaintReason,
  insufficientReason,
  reasonHistogram,
  fitErrorMessage,
} from './reasons.js';
export { SchedulerError, QuantityError, isSchedulerError, isQuantityError } from './errors.js';
export type { SchedulerErrorCode } from './errors.js';
export type {
  Node,
  Pod,
  ResourceList,
  Taint,
  TaintEffect,
  Toleration,
  NodeSelector,
  NodeLabelSelector,
  NodeSelectorRequirement,
  AntiAffinityTerm,
  SpreadConstraint,
  Strategy,
  ScoreWeights,
  Unschedulable,
  ScheduleResult,
} from './types.js';
