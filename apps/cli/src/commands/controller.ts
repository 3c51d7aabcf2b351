import { hostname } from 'node:os';
import { clusterOptions, openCluster, secondsOption, stringOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'controller [--identity ID] [--store URL] [--ssh-config FILE]',
  description:
    'Runs the reconcile loop continuously: keeps replica sets at their replicas, heals instances, reschedules off hosts that stop answering, renders services. Several can run against one store; one leads (leader lease), the others wait. Stops on SIGINT/SIGTERM (releasing the lease); instances keep running.',
  deployOptions: false,
  options: [
    { name: 'identity', type: 'string', value: 'ID', description: 'leader-election identity (default hostname-pid)' },
    { name: 'probe-interval', type: 'string', value: 'SECONDS', description: 'how often hosts are probed and instances observed (default 2)' },
    { name: 'host-grace', type: 'string', value: 'SECONDS', description: 'how long a host may not answer before it is NotReady (default 10)' },
    ...clusterOptions,
  ],
  async run(ctx) {
    const s = await openCluster(ctx);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const identity = stringOption(ctx, 'identity') ?? `${hostname()}-${process.pid}`;
    try {
      const controllers = new s.cluster.ClusterControllers({
        store: s.store,
        runtime: s.runtime(),
        hostProbeIntervalMs: secondsOption(ctx, 'probe-interval', 2000),
        hostGracePeriodMs: secondsOption(ctx, 'host-grace', 10_000),
      });
      ctx.stderr.write(`flo controller ${identity}: waiting for the leader lease\n`);
      await controllers.runWithLeaderElection({
        identity,
        signal: abort.signal,
        onLeading: (leading) => void ctx.stderr.write(`flo controller ${identity}: ${leading ? 'leading' : 'stopped leading'}\n`),
      });
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await s.close();
    }
  },
};
