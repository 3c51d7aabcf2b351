/**
 * Deleting a set of objects in an order that leaves nothing running untracked — what
 * `flo delete -f app.yaml` and `flo delete <kind>/<name>` do.
 *
 * Guarantees:
 * - services, replica sets and instances go first; hosts go last, and a host is deleted
 *   only once no instance is bound to it any more (its instances stopped on it by the
 *   controllers), so a file holding both the hosts and the replica sets running on them is
 *   deleted without orphaned supervisors or commands;
 * - a host that runs instances that are not being deleted (another replica set's) is
 *   refused at once, naming them — nothing of it changes; delete their replica sets too, or
 *   `flo drain` it first (what Nomad asks before a node is removed);
 * - hosts waited for are cordoned first, so nothing new is placed on them meanwhile;
 * - each result is reported to `onDeleted` as soon as it is final.
 * `force` deletes hosts without waiting and without refusing (their instances' processes
 * keep running there): for hosts that are gone for good.
 */
import { HostInUseError, isClusterError, isHostInUseError, type BoundInstance } from '../errors.js';
import type { ManifestKind } from '../manifest/types.js';
import { deleteObject, instancesOnHost, setUnschedulable } from '../operations.js';
import { converge, type ConvergeOptions } from './converge.js';

/** One object to delete. */
export interface DeleteTarget {
  kind: ManifestKind | 'Instance';
  name: string;
}

/** What became of one {@link DeleteTarget}. */
export interface DeleteResult extends DeleteTarget {
  result: 'deleted' | 'not-found' | 'refused';
  /** Why it was refused: which instances are bound to the host and what to do. */
  message?: string;
  /** For a refused host: the instances bound to it. */
  instances?: readonly BoundInstance[];
}

/** Options of {@link deleteResources}. */
export interface DeleteResourcesOptions extends Omit<ConvergeOptions, 'names' | 'emptyHosts'> {
  /**
   * Wait, running the controllers in-process when the lease is free (as `converge`), until
   * the instances of deleted replica sets are stopped. Without waiting, a host whose
   * instances are not stopped yet is refused. @default true
   */
  wait?: boolean;
  /** Delete hosts at once even with instances bound to them (left running, untracked). @default false */
  force?: boolean;
  /** Called with each result as soon as it is final, in the order of deletion. @default none */
  onDeleted?: (result: DeleteResult) => void;
}

const ORDER: Record<DeleteTarget['kind'], number> = { Service: 0, ReplicaSet: 1, Instance: 2, Host: 3, Network: 4 };

/**
 * Deletes `targets` (see the guarantees above) and returns a result per target, in the
 * order they were dealt with. Throws only when waiting fails (a `timeout` ClusterError,
 * after reporting the hosts it kept as refused) or the store does.
 */
export async function deleteResources(targets: readonly DeleteTarget[], options: DeleteResourcesOptions): Promise<DeleteResult[]> {
  const { store } = options;
  const wait = options.wait ?? true;
  const results: DeleteResult[] = [];
  const report = (r: DeleteResult): void => {
    results.push(r);
    options.onDeleted?.(r);
  };
  const ordered = [...targets].sort((a, b) => ORDER[a.kind] - ORDER[b.kind]);
  const hosts = ordered.filter((t) => t.kind === 'Host').map((t) => t.name);
  const others = ordered.filter((t) => t.kind !== 'Host');
  const goingSets = new Set(others.filter((t) => t.kind === 'ReplicaSet').map((t) => t.name));
  const goingInstances = new Set(others.filter((t) => t.kind === 'Instance').map((t) => t.name));

  // 1. Hosts that would keep instances nobody deletes are refused before anything changes.
  const accepted: string[] = [];
  for (const name of hosts) {
    if (options.force) {
      accepted.push(name);
      continue;
    }
    if (!(await store.hosts.get(name))) {
      accepted.push(name); // reported as not found below, in order
      continue;
    }
    const bound = await instancesOnHost(store, name);
    const staying = bound.filter((i) => !i.terminating && !goingSets.has(i.replicaSet) && !goingInstances.has(i.name));
    if (staying.length > 0) {
      report({ kind: 'Host', name, result: 'refused', message: new HostInUseError(name, staying).message, instances: staying });
      continue;
    }
    accepted.push(name);
  }

  // 2. Nothing new lands on a host that is about to go.
  if (wait && !options.force) {
    for (const name of accepted) {
      try {
        await setUnschedulable(store, name, true);
      } catch (e) {
        if (!isClusterError(e) || e.code !== 'not-found') throw e;
      }
    }
  }

  // 3. Everything but the hosts.
  for (const t of others) report({ ...t, result: (await deleteObject(store, t.kind, t.name)) ? 'deleted' : 'not-found' });

  // 4. Wait until the deleted replica sets' instances are stopped and the hosts are empty.
  let failure: Error | undefined;
  const sets = others.filter((t) => t.kind === 'ReplicaSet').map((t) => t.name);
  const emptyHosts: string[] = [];
  if (wait && !options.force) for (const name of accepted) if ((await instancesOnHost(store, name)).length > 0) emptyHosts.push(name);
  if (wait && (sets.length > 0 || goingInstances.size > 0 || emptyHosts.length > 0)) {
    try {
      // instances deleted one by one are replaced by their replica sets: then wait for all of them
      await converge({ ...options, ...(goingInstances.size === 0 ? { names: sets } : {}), emptyHosts });
    } catch (e) {
      failure = e instanceof Error ? e : new Error(String(e)); // the hosts still in use are refused below; then this is thrown
    }
  }

  // 5. The hosts, each only if nothing is bound to it any more (unless forced).
  for (const name of accepted) {
    try {
      report({ kind: 'Host', name, result: (await deleteObject(store, 'Host', name, { force: options.force ?? false })) ? 'deleted' : 'not-found' });
    } catch (e) {
      if (!isHostInUseError(e)) throw e;
      const when = !wait ? 'are still being stopped (not waited for)' : failure ? 'were still being stopped when the wait ended (is the host reachable?)' : 'are bound to it again';
      report({ kind: 'Host', name, result: 'refused', message: stillStopping(e, when, goingSets, goingInstances), instances: e.instances });
    }
  }
  if (failure !== undefined) throw failure;
  return results;
}

/** Why a host whose instances were on their way out is kept (or deleteObject's words when some stay). */
function stillStopping(e: HostInUseError, when: string, goingSets: ReadonlySet<string>, goingInstances: ReadonlySet<string>): string {
  const leaving = e.instances.every((i) => i.terminating || goingSets.has(i.replicaSet) || goingInstances.has(i.name));
  if (!leaving) return e.message;
  const names = e.instances.slice(0, 10).map((i) => i.name).join(', ') + (e.instances.length > 10 ? ', …' : '');
  return `host/${e.host} is not deleted: its ${e.instances.length} instance(s) (${names}) ${when}; run the delete again once they are gone, or use --force to delete the host anyway and leave them running there untracked`;
}
