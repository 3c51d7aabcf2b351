// `flo ui` put together: the feed following a store, the HTTP server, and the actions wired
// to the cluster operations the commands use (scale, cordon/uncordon, rollout undo, logs).
// Used by `flo ui` and by `flo demo --ui` (on the demo's own store).
import type * as Cluster from '@flotilla/cluster';
import { UiFeed } from './feed.js';
import { startUiServer, type UiAction, type UiLogger } from './server.js';

/**
 * `/metrics` of the dashboard (prom-client loads only here): the process, pages connected,
 * whether the store is listed, the store watch restarts, and the actions asked for.
 */
async function dashboardMetrics(state: { streams: () => number; synced: () => boolean }): Promise<{
  contentType: string;
  text(): Promise<string>;
  action(kind: UiAction, result: string): void;
  restart(kind: string): void;
}> {
  const { Registry, collectDefaultMetrics, Counter, Gauge } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'flotilla_ui_streams', help: 'Pages following the live feed (open /api/stream event streams).', registers: [registry], collect() { this.set(state.streams()); } });
  new Gauge({ name: 'flotilla_ui_store_listed', help: 'Whether every kind of the store has been listed (1) or not yet (0).', registers: [registry], collect() { this.set(state.synced() ? 1 : 0); } });
  const restarts = new Counter({ name: 'flotilla_ui_store_watch_restarts_total', help: 'Store watches lost (closed, stalled, compacted) and listed again, by kind.', labelNames: ['kind'], registers: [registry] });
  const actions = new Counter({ name: 'flotilla_ui_actions_total', help: 'Actions asked for from the dashboard, by action and result (done, refused, failed).', labelNames: ['action', 'result'], registers: [registry] });
  for (const a of ['scale', 'rollout-undo', 'cordon', 'uncordon']) for (const r of ['done', 'refused', 'failed']) actions.inc({ action: a, result: r }, 0);
  return {
    contentType: registry.contentType,
    text: () => registry.metrics(),
    action: (kind, result) => actions.inc({ action: kind, result }),
    restart: (kind) => restarts.inc({ kind }),
  };
}

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
  let streams = (): number => 0;
  const feed = new UiFeed({
    onRestart: (kind, reason) => {
      o.log.warn('store watch restarted', { kind, reason });
      metrics.restart(kind);
    },
  });
  const metrics = await dashboardMetrics({ streams: () => streams(), synced: () => feed.synced });
  const following = feed.run(store, abort.signal);
  try {
    const server = await startUiServer({
      metrics,
      onAction: (kind, result) => metrics.action(kind, result),
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
    streams = () => server.clients();
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
