// `flo ui` put together: the feed following a store, the HTTP server, and the actions wired
// to the cluster operations the commands use (scale, cordon/uncordon, rollout undo, logs).
// Used by `flo ui` and by `flo demo --ui` (on the demo's own store).
import type * as Cluster from '@flotilla/cluster';
import { UiFeed } from './feed.js';
import { startUiServer, type UiLogger } from './server.js';

export interface DashboardOptions {
  cluster: typeof Cluster;
  store: Cluster.ClusterStore;
  /** The runtime that reaches the hosts (for logs); created on first use. */
  runtime: () => Cluster.DeployRuntime;
  listen: string;
  token?: string;
  assetsDir: string;
  log: UiLogger;
  storeLabel: string;
  version: string;
}

export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const { cluster, store } = o;
  const abort = new AbortController();
  const feed = new UiFeed({ onRestart: (kind, reason) => o.log.warn('store watch restarted', { kind, reason }) });
  const following = feed.run(store, abort.signal);
  try {
    const server = await startUiServer({
      listen: o.listen,
      feed,
      ...(o.token !== undefined ? { token: o.token } : {}),
      assetsDir: o.assetsDir,
      logger: o.log,
      storeLabel: o.storeLabel,
      version: o.version,
      operations: {
        // The same operations as flo scale, cordon/uncordon, rollout undo and logs.
        scale: (name, n) => cluster.scaleReplicaSet(store, name, n),
        setUnschedulable: (name, u) => cluster.setUnschedulable(store, name, u),
        rolloutUndo: (name) => cluster.rolloutUndo(store, name),
        async *logs(name, { follow, signal }) {
          const instance = await store.instances.get(name);
          if (!instance) throw new Error(`instance/${name} not found`);
          const host = await store.hosts.get(instance.spec.host);
          if (!host) throw new Error(`host ${instance.spec.host} of instance/${name} not found`);
          yield* o.runtime().logs(host, instance, { follow, signal });
        },
      },
    });
    return {
      url: server.url,
      async close() {
        abort.abort();
        await server.close();
        await following;
      },
    };
  } catch (e) {
    abort.abort();
    await following;
    throw e;
  }
}
