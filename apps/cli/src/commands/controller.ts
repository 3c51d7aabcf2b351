/**
 * `flo controller`: runs the cluster's controllers in the foreground, under a leader lease in
 * the store.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { clusterOptions, listOption, openCluster, secondsOption, stringOption } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import type { ClusterSession } from '../cli/cluster-context.js';
import type { ControllerMetrics, LeaderElector } from '@flotilla/reconcile';
import { loggerFor, logOptions, type CliLogger } from '../observability/log.js';
import { metricsListenOption } from '../observability/options.js';

/**
 * `--identity` names an ssh key file in every command. `flo controller --identity ID` used to
 * name the leader-election identity (now `--leader-identity`): a value that is no file is still
 * taken as that, with a warning, and removed from the key files.
 */
function deprecatedLeaderIdentity(ctx: CommandContext): string | undefined {
  const values = listOption(ctx, 'identity');
  const old = values.filter((v) => !existsSync(path.resolve(ctx.cwd, v)));
  if (old.length === 0) return undefined;
  ctx.stderr.write(`flo: warning: --identity ${old.at(-1)} is not a file: taken as the leader-election identity, as before; that use of --identity is deprecated (--identity names an ssh key file, as everywhere else): use --leader-identity ${old.at(-1)}\n`);
  const keys = values.filter((v) => !old.includes(v));
  ctx.args.options.identity = keys.length > 0 ? keys : undefined;
  return old.at(-1);
}

export const command: CommandModule = {
  usage: 'controller [--leader-identity ID] [--metrics-listen HOST:PORT] [--log-format text|json] [--log-level LEVEL] [--store URL] [--ssh-config FILE] [--identity KEY_FILE]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    'Runs the reconcile loop continuously: keeps replica sets at their replicas, heals instances, reschedules off hosts that stop answering, renders services. Several can run against one store; one leads (leader lease), the others wait. Stops on SIGINT/SIGTERM (releasing the lease); instances keep running.',
  deployOptions: false,
  options: [
    { name: 'leader-identity', type: 'string', value: 'ID', description: 'this controller\'s name in the leader election (default hostname-pid; was --identity ID)' },
    { name: 'probe-interval', type: 'string', value: 'SECONDS', description: 'how often hosts are probed and instances observed (default 2)' },
    { name: 'host-grace', type: 'string', value: 'SECONDS', description: 'how long a host may not answer before it is NotReady (default 10)' },
    metricsListenOption,
    ...logOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const leader = deprecatedLeaderIdentity(ctx);
    const identity = stringOption(ctx, 'leader-identity') ?? leader ?? `${hostname()}-${process.pid}`;
    const log = loggerFor(ctx, `flo controller ${identity}`, { identity });
    const s = await openCluster(ctx);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const metricsListen = stringOption(ctx, 'metrics-listen');
    let metricsServer: { close(): Promise<void> } | undefined;
    try {
      const observed = metricsListen !== undefined ? await startControllerMetrics(log, s, metricsListen, abort.signal) : undefined;
      metricsServer = observed?.server;
      const controllers = new s.cluster.ClusterControllers({
        store: s.store,
        runtime: s.runtime(),
        hostProbeIntervalMs: secondsOption(ctx, 'probe-interval', 2000),
        hostGracePeriodMs: secondsOption(ctx, 'host-grace', 10_000),
        ...(observed ? { metrics: observed.metrics } : {}),
        logger: log,
      });
      log.info('waiting for the leader lease');
      await controllers.runWithLeaderElection({
        identity,
        signal: abort.signal,
        onLeading: (leading) => log.info(leading ? 'leading' : 'stopped leading'),
        ...(observed ? { onElector: observed.onElector } : {}),
      });
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      abort.abort();
      await metricsServer?.close();
      await s.close();
    }
  },
};

/**
 * `--metrics-listen`: controller-runtime's metrics of the four controllers, the store's
 * instances by phase and hosts by readiness, and readiness = holds the lease, or is a standby
 * that heard from the store within a lease duration. prom-client loads only here.
 */
async function startControllerMetrics(
  log: CliLogger,
  s: ClusterSession,
  listen: string,
  signal: AbortSignal,
): Promise<{ server: { close(): Promise<void> }; metrics: ControllerMetrics; onElector: (e: LeaderElector) => void }> {
  const [{ Registry, collectDefaultMetrics }, { prometheusControllerMetrics }, { startMetricsServer }, { clusterMetrics }, { systemClock }] = await Promise.all([
    import('prom-client'),
    import('@flotilla/reconcile/prometheus'),
    import('../observability/http.js'),
    import('../observability/cluster-metrics.js'),
    import('@flotilla/reconcile'),
  ]);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = prometheusControllerMetrics({ registry });
  const cluster = clusterMetrics(registry, { hosts: s.store.hosts, instances: s.store.instances }, signal);
  let elector: LeaderElector | undefined;
  const leaseMs = 15_000;
  const server = await startMetricsServer({
    listen,
    flag: '--metrics-listen',
    registry,
    ready: [
      {
        name: 'leader-election',
        check: () => {
          if (elector === undefined) return 'not started';
          if (elector.isLeader()) return undefined;
          const contact = elector.lastStoreContact();
          if (contact === undefined) return 'has not reached the store yet';
          const ago = systemClock.now() - contact;
          return ago <= leaseMs ? undefined : `standby has not reached the store for ${Math.round(ago / 1000)} s`;
        },
      },
      { name: 'store-watch', check: () => (cluster.synced() ? undefined : 'hosts and instances not listed yet') },
    ],
  });
  log.info(`metrics on ${server.url}/metrics (also /healthz, /readyz)`, { url: `${server.url}/metrics` });
  return { server, metrics, onElector: (e) => (elector = e) };
}
