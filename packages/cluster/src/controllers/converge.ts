/**
 * Convergence in-process, for `apply --wait`, `scale --wait` and `delete`: run the
 * controllers here (when the leader lease is free) until the named replica sets are
 * converged, so these commands work without a running `flo controller`; when another
 * process holds the lease, just wait for it to converge.
 */
import { sleep, systemClock } from '@flotilla/reconcile';
import { hostname } from 'node:os';
import { ClusterError } from '../errors.js';
import { convergence } from '../operations.js';
import { ClusterControllers, type ClusterControllersOptions } from './manager.js';

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
