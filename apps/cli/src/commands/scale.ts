/**
 * `flo scale replicaset/NAME --replicas N`: sets a replica set's count (`--wait` until it
 * converges).
 */
import { UsageError } from '../cli/args.js';
import { clusterOptions, waitOptions, openCluster, parseRef, progressPrinter, secondsOption, stringOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { changeFormats, outputFormat, printChanges } from '../output/format.js';

export const command: CommandModule = {
  usage: 'scale replicaset/NAME --replicas N [--wait] [-o text|json|yaml|name] [--store URL]',
  formats: changeFormats,
  description: 'Sets the number of replicas (until the next `flo apply` of that replica set says otherwise). --wait converges in this process.',
  deployOptions: false,
  options: [
    { name: 'replicas', type: 'string', value: 'N', description: 'desired number of instances' },
    ...waitOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const { name } = parseRef(ctx.args.positionals, ['ReplicaSet']);
    const text = stringOption(ctx, 'replicas');
    if (text === undefined || !/^\d+$/.test(text)) throw new UsageError(`--replicas: expected a non-negative integer, got ${text ?? 'nothing'}`);
    const format = outputFormat(ctx, changeFormats);
    const s = await openCluster(ctx);
    try {
      await s.cluster.scaleReplicaSet(s.store, name, Number(text));
      await printChanges(ctx, format, [{ kind: 'ReplicaSet', name, action: 'scaled', replicas: Number(text) }], (c) => `replicaset/${c.name} scaled to ${text}`);
      if (ctx.args.options.wait === true)
        await s.cluster.converge({ store: s.store, runtime: s.runtime(), names: [name], timeoutMs: secondsOption(ctx, 'timeout', 300_000), onProgress: progressPrinter(ctx) });
      return 0;
    } finally {
      await s.close();
    }
  },
};
