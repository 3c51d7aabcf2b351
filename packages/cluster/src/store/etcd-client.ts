/**
 * Loading the `etcd3` client. etcd3 (with grpc-js and protobufjs, ≈15 MB installed) is an
 * optional peer dependency of this package: only `etcd://` stores need it, so it loads here,
 * on first use, and a missing install is a {@link ClusterError} (`dependency-missing`) that
 * says how to add it.
 */
import type * as etcd3 from 'etcd3';
import { ClusterError } from '../errors.js';

/** The etcd3 module, as `import('etcd3')` gives it. */
export type Etcd3Module = typeof etcd3;

const importEtcd3 = (): Promise<Etcd3Module> => import('etcd3');

function isModuleNotFound(e: unknown): e is Error & { code: string } {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND');
}

/**
 * Imports etcd3 (through `importModule`, which tests replace). Throws `dependency-missing` when
 * etcd3, or a module it needs, cannot be found; any other failure passes through.
 */
export async function loadEtcd3(importModule: () => Promise<Etcd3Module> = importEtcd3): Promise<Etcd3Module> {
  try {
    return await importModule();
  } catch (e) {
    if (!isModuleNotFound(e)) throw e;
    // Node names the package it could not find: "Cannot find package 'etcd3' imported from …"
    // for etcd3 itself, "Cannot find module '@grpc/grpc-js'" for a broken etcd3 install.
    if (/['"]etcd3['"]/.test(e.message))
      throw new ClusterError(
        'dependency-missing',
        'etcd:// stores need the etcd3 package, which is not installed (it is an optional peer dependency of @flotilla/cluster, left out so other installs stay small). Install it beside @flotilla/cluster: npm i etcd3',
        { cause: e },
      );
    throw new ClusterError(
      'dependency-missing',
      `etcd:// stores need the etcd3 package, which is installed but cannot load: ${e.message}. Reinstall it: npm i etcd3`,
      { cause: e },
    );
  }
}

/** The part of etcd3's (internal) watch manager that {@link tolerateDetachedWatchResponses} changes. */
interface WatchManagerLike {
  watchers: { id: string | null }[];
  handleResponse(res: { watch_id?: unknown }): void;
}

/**
 * Makes an etcd3 client ignore a watch response for a watcher it no longer holds, instead of
 * throwing. etcd3 1.1 throws `ClientRuntimeError: Failed to find watcher for IWatchResponse`
 * from its gRPC stream's data handler, where nothing catches it, so the process dies.
 * The response comes from a watcher that was detached (cancelled here) while the server still
 * had events for it in flight: a race that is common with many watchers on one stream (a
 * `flo agent --hollow 500` process died of it at 5,000 hosts). etcd's own Go client drops
 * responses for watch ids it does not know; so does this. It changes only this client's
 * watch manager, and nothing when the installed etcd3 has none (a version laid out otherwise).
 */
export function tolerateDetachedWatchResponses(client: object): void {
  const manager = (client as { watchManager?: Partial<WatchManagerLike> }).watchManager;
  if (manager === undefined || typeof manager.handleResponse !== 'function' || !Array.isArray(manager.watchers)) return;
  const m = manager as WatchManagerLike;
  const handle = m.handleResponse.bind(m);
  m.handleResponse = (res) => {
    if (!m.watchers.some((w) => w.id === res.watch_id)) return; // a detached watcher's late response
    handle(res);
  };
}
