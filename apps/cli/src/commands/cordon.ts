import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'cordon HOST [--store URL]',
  description: 'Marks a host unschedulable: no new instances are placed on it; those running stay.',
  deployOptions: false,
  options: [...clusterOptions],
  async run(ctx) {
    const [host, extra] = ctx.args.positionals;
    if (host === undefined) throw new UsageError('cordon needs a host name');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const s = await openCluster(ctx);
    try {
      await s.cluster.setUnschedulable(s.store, host.replace(/^hosts?\//, ''), true);
      ctx.stdout.write(`host/${host} cordoned\n`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
