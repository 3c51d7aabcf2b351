/**
 * `flo cordon HOST`: marks a host unschedulable; nothing new is placed there.
 */
import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { changeFormats, outputFormat, printChanges } from '../output/format.js';

export const command: CommandModule = {
  usage: 'cordon HOST [-o text|json|yaml|name] [--store URL]',
  formats: changeFormats,
  description: 'Marks a host unschedulable: no new instances are placed on it; those running stay.',
  deployOptions: false,
  options: [...clusterOptions],
  async run(ctx) {
    const [host, extra] = ctx.args.positionals;
    if (host === undefined) throw new UsageError('cordon needs a host name');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const format = outputFormat(ctx, changeFormats);
    const name = host.replace(/^hosts?\//, '');
    const s = await openCluster(ctx);
    try {
      await s.cluster.setUnschedulable(s.store, name, true);
      await printChanges(ctx, format, [{ kind: 'Host', name, action: 'cordoned' }]);
      return 0;
    } finally {
      await s.close();
    }
  },
};
