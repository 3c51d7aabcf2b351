/**
 * `flo drain HOST`: cordons a host and moves its instances elsewhere (`--wait` until they
 * run).
 */
import { UsageError } from '../cli/args.js';
import { clusterOptions, waitOptions, openCluster, progressPrinter, secondsOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { changeFormats, outputFormat, printChanges } from '../output/format.js';

export const command: CommandModule = {
  usage: 'drain HOST [--wait] [-o text|json|yaml|name] [--store URL]',
  formats: changeFormats,
  description: 'Cordons a host and moves its instances elsewhere (each is replaced, then stopped on this host). --wait converges in this process. -o json|yaml print {"items":[{"kind":"Host","name","action":"cordoned"},{"kind":"Instance","name","action":"evicted"},…]}; -o name the kind/name lines.',
  deployOptions: false,
  options: [
    ...waitOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const [host, extra] = ctx.args.positionals;
    if (host === undefined) throw new UsageError('drain needs a host name');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const format = outputFormat(ctx, changeFormats);
    const s = await openCluster(ctx);
    try {
      const name = host.replace(/^hosts?\//, '');
      const evicted = await s.cluster.drainHost(s.store, name);
      if (format === 'text') ctx.stdout.write(`host/${name} cordoned; evicting ${evicted.length} instance(s)${evicted.length ? `: ${evicted.join(', ')}` : ''}\n`);
      else await printChanges(ctx, format, [{ kind: 'Host', name, action: 'cordoned' }, ...evicted.map((i) => ({ kind: 'Instance', name: i, action: 'evicted' }))]);
      if (ctx.args.options.wait === true)
        await s.cluster.converge({ store: s.store, runtime: s.runtime(), timeoutMs: secondsOption(ctx, 'timeout', 300_000), onProgress: progressPrinter(ctx) });
      return 0;
    } finally {
      await s.close();
    }
  },
};
