import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'uncordon HOST [--store URL]',
  description: 'Marks a host schedulable again.',
  deployOptions: false,
  options: [...clusterOptions],
  async run(ctx) {
    const [host, extra] = ctx.args.positionals;
    if (host === undefined) throw new UsageError('uncordon needs a host name');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const s = await openCluster(ctx);
    try {
      await s.cluster.setUnschedulable(s.store, host.replace(/^hosts?\//, ''), false);
      ctx.stdout.write(`host/${host} uncordoned\n`);
      return 0;
    } finally {
      await s.close();
    }
  },
};
