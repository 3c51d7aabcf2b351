/**
 * Convergence in-process, for `apply --wait`, `scale --wait` and `delete`: run the
 * controllers here (when the leader lease is free) until the named replica sets are
 * converged, so these commands work without a running `flo controller`; when another
 * process holds the lease, just wait for it to converge.
 */
import { sleep, systemClock } from '@flotilla/reconcile';
import { hostname } from 'node:os';
import { ClusterError } from '../errors.js';
import type { Instance, ReplicaSet } from '../manifest/types.js';
import type { ClusterStore } from '../store/resources.js';
import { ClusterControllers, type ClusterControllersOptions } from './manager.js';
import { templateHash } from './template.js';

/** Options of {@link convergence}. */
export interface ConvergenceOptions {
  /** Also wait until no instance is bound to these hosts (before deleting them). @default none */
  emptyHosts?: readonly string[];
}

/** Whether the replica sets have converged, and what is still awaited when not. */
export interface Convergence {
  done: boolean;
  waitingFor: string[];
}

/**
 * Is every replica set converged (optionally only those named) — its status observed the
 * current generation and template, `replicas` instances of that template all ready, none
 * terminating — and are the `emptyHosts` empty? With a reason per thing still awaited.
 * Pure: one snapshot of the replica sets and the instances.
 */
export function convergenceOf(replicaSets: readonly ReplicaSet[], instances: readonly Instance[], names?: readonly string[], options: ConvergenceOptions = {}): Convergence {
  const waiting: string[] = [];
  for (const host of options.emptyHosts ?? []) {
    const bound = instances.filter((i) => i.spec.host === host).map((i) => i.metadata.name);
    if (bound.length > 0) waiting.push(`host/${host}: stopping ${bound.length} instance(s) (${bound.slice(0, 5).join(', ')}${bound.length > 5 ? ', …' : ''})`);
  }
  for (const rs of replicaSets) {
    if (names && !names.includes(rs.metadata.name)) continue;
    const mine = instances.filter((i) => i.spec.replicaSet === rs.metadata.name);
    const hash = templateHash(rs.spec.template);
    const s = rs.status;
    const ok =
      s !== undefined &&
      s.observedGeneration === rs.metadata.generation &&
      s.currentTemplateHash === hash &&
      s.readyReplicas === rs.spec.replicas &&
      mine.length === rs.spec.replicas &&
      mine.every((i) => i.status?.ready && i.metadata.deletionTimestamp === undefined && i.spec.templateHash === hash);
    if (!ok) waiting.push(`replicaset/${rs.metadata.name}: ${s?.readyReplicas ?? 0}/${rs.spec.replicas} ready${mine.some((i) => i.metadata.deletionTimestamp !== undefined) ? ', stopping old instances' : ''}`);
  }
  if (names) {
    const present = new Set(replicaSets.map((r) => r.metadata.name));
    for (const n of names) if (!present.has(n) && instances.some((i) => i.spec.replicaSet === n)) waiting.push(`replicaset/${n}: stopping instances`);
  }
  return { done: waiting.length === 0, waitingFor: waiting };
}

/** {@link convergenceOf} on the store's current replica sets and instances. */
export async function convergence(store: ClusterStore, names?: readonly string[], options: ConvergenceOptions = {}): Promise<Convergence> {
  const instances = await store.instances.items();
  return convergenceOf(await store.replicaSets.items(), instances, names, options);
}

/** Options of {@link converge}. */
export interface ConvergeOptions extends ClusterControllersOptions {
  /** Replica sets to wait for. @default all */
  names?: readonly string[];
  /** Also wait until no instance is bound to these hosts (they are about to be deleted). @default none */
  emptyHosts?: readonly string[];
  /** Give up after this long (a `timeout` ClusterError). @default 300000 */
  timeoutMs?: number;
  /** How often convergence is checked and reported. @default 500 */
  pollIntervalMs?: number;
  /** Called with what is still awaited, whenever it changes. @default none */
  onProgress?: (waitingFor: string[]) => void;
  /** Leader identity. @default `<hostname>-<pid>-converge` */
  identity?: string;
  /** Cancels the wait. */
  signal?: AbortSignal;
  /** Leader lease timings (ms). @default reconcile's defaults */
  lease?: { leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
}

/** Runs the controllers (as leader, when possible) until converged. */
export async function converge(options: ConvergeOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const controllers = new ClusterControllers(options);
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const running = controllers
    .runWithLeaderElection({ identity: options.identity ?? `${hostname()}-${process.pid}-converge`, signal: stop.signal, ...options.lease })
    .catch(() => undefined);
  const deadline = clock.now() + (options.timeoutMs ?? 300_000);
  let last = '';
  try {
    for (;;) {
      const { done, waitingFor } = await convergence(options.store, options.names, options.emptyHosts ? { emptyHosts: options.emptyHosts } : {});
      const text = waitingFor.join('; ');
      if (text !== last) {
        last = text;
        options.onProgress?.(waitingFor);
      }
      if (done) return;
      if (options.signal?.aborted) throw new ClusterError('timeout', 'cancelled while waiting for convergence');
      if (clock.now() > deadline) throw new ClusterError('timeout', `not converged after ${Math.round((options.timeoutMs ?? 300_000) / 1000)} s: ${text}`);
      await sleep(clock, options.pollIntervalMs ?? 500, options.signal);
    }
  } finally {
    stop.abort();
    options.signal?.removeEventListener('abort', onAbort);
    await running;
  }
}
