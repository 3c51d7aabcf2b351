import { UsageError } from '../cli/args.js';
import { clusterOptions, waitOptions, openCluster, progressPrinter, secondsOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'drain HOST [--store URL] [--wait]',
  description: 'Cordons a host and moves its instances elsewhere (each is replaced, then stopped on this host). --wait converges in this process.',
  deployOptions: false,
  options: [
    ...waitOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const [host, extra] = ctx.args.positionals;
    if (host === undefined) throw new UsageError('drain needs a host name');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const s = await openCluster(ctx);
    try {
      const name = host.replace(/^hosts?\//, '');
      const evicted = await s.cluster.drainHost(s.store, name);
      ctx.stdout.write(`host/${name} cordoned; evicting ${evicted.length} instance(s)${evicted.length ? `: ${evicted.join(', ')}` : ''}\n`);
      if (ctx.args.options.wait === true)
        await s.cluster.converge({ store: s.store, runtime: s.runtime(), timeoutMs: secondsOption(ctx, 'timeout', 300_000), onProgress: progressPrinter(ctx) });
      return 0;
    } finally {
      await s.close();
    }
  },
};
