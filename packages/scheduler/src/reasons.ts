/**
 * Why a pod fits nowhere, in kube-scheduler's words (its filter plugins' reasons and
 * `FitError.Error()`).
 */

/** NodeUnschedulable. */
export const REASON_UNSCHEDULABLE = "node(s) were unschedulable";
/** NodeAffinity (node selector). */
export const REASON_NODE_SELECTOR = "node(s) didn't match Pod's node affinity/selector";
/** NodePorts. */
export const REASON_HOST_PORTS = "node(s) didn't have free ports for the requested pod ports";
/** PodTopologySpread. */
export const REASON_SPREAD = "node(s) didn't match pod topology spread constraints";
/** PodTopologySpread, when the node lacks the topology key. */
export const REASON_SPREAD_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
/** InterPodAffinity: an existing pod's anti-affinity forbids this pod. */
export const REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";
/** InterPodAffinity: this pod's anti-affinity forbids the node. */
export const REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
/** When the cluster has no nodes at all (kube-scheduler's `ErrNoNodesAvailable`). */
export const MESSAGE_NO_NODES = 'no nodes available to schedule pods';

/** TaintToleration: `node(s) had untolerated taint {key: value}`. */
export function untoleratedTaintReason(key: string, value: string | undefined): string {
  return `node(s) had untolerated taint {${key}: ${value ?? ''}}`;
}

/** NodeResourcesFit: `Insufficient cpu`. */
export function insufficientReason(resource: string): string {
  return `Insufficient ${resource}`;
}

function compareBytes(a: string, b: string): number {
  // Go's sort.Strings compares bytes; for the ASCII reasons here UTF-16 order is the same,
  // and for the rest UTF-8 byte order equals code point order.
  if (a === b) return 0;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/**
 * kube-scheduler's histogram: `"<count> <reason>"` for each distinct reason, sorted as Go's
 * `sort.Strings` sorts (byte-wise, so `"10 …"` sorts before `"2 …"`).
 */
export function reasonHistogram(counts: ReadonlyMap<string, number>): string[] {
  const entries: string[] = [];
  for (const [reason, count] of counts) entries.push(`${count} ${reason}`);
  return entries.sort(compareBytes);
}

/** `0/<n> nodes are available: <histogram joined by ", ">.` (kube-scheduler's `FitError.Error()`). */
export function fitErrorMessage(nodeCount: number, histogram: readonly string[]): string {
  if (nodeCount === 0) return MESSAGE_NO_NODES;
  return histogram.length === 0
    ? `0/${nodeCount} nodes are available.`
    : `0/${nodeCount} nodes are available: ${histogram.join(', ')}.`;
}
