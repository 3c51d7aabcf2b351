/**
 * Taints and tolerations, with Kubernetes' semantics (`Toleration.ToleratesTaint`,
 * `FindMatchingUntoleratedTaint`, and the TaintToleration plugin's filter and score).
 */
import type { Taint, Toleration } from './types.js';

/** The taint Kubernetes puts on cordoned nodes; a pod tolerating it may run on them. */
export const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

/**
 * Does `toleration` tolerate `taint`? As Kubernetes: an empty effect matches every effect;
 * an empty key matches every key (meaningful with `Exists`); `Exists` ignores the value;
 * `Equal` (the default) needs the same value (a missing value is `''`).
 */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== undefined && (toleration.effect as string) !== '' && toleration.effect !== taint.effect) return false;
  const key = toleration.key ?? '';
  if (key !== '' && key !== taint.key) return false;
  switch (toleration.operator ?? 'Equal') {
    case 'Exists':
      return true;
    case 'Equal':
      return (toleration.value ?? '') === (taint.value ?? '');
    default:
      return false;
  }
}

/** Does any of `tolerations` tolerate `taint`? */
export function tolerationsTolerate(tolerations: readonly Toleration[] | undefined, taint: Taint): boolean {
  if (tolerations === undefined) return false;
  for (const toleration of tolerations) if (toleratesTaint(toleration, taint)) return true;
  return false;
}

/**
 * The first NoSchedule or NoExecute taint of `taints` that `tolerations` do not tolerate
 * (the filter), or `undefined` when the pod may run on the node.
 */
export function findUntoleratedTaint(
  taints: readonly Taint[] | undefined,
  tolerations: readonly Toleration[] | undefined,
): Taint | undefined {
  if (taints === undefined) return undefined;
  for (const taint of taints) {
    if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
    if (!tolerationsTolerate(tolerations, taint)) return taint;
  }
  return undefined;
}

/** The number of PreferNoSchedule taints of `taints` that `tolerations` do not tolerate (the score's input). */
export function countIntolerablePreferNoSchedule(
  taints: readonly Taint[] | undefined,
  tolerations: readonly Toleration[] | undefined,
): number {
  if (taints === undefined) return 0;
  let count = 0;
  for (const taint of taints) {
    if (taint.effect === 'PreferNoSchedule' && !tolerationsTolerate(tolerations, taint)) count++;
  }
  return count;
}
