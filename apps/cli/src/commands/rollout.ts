/**
 * `flo rollout undo replicaset/NAME`: puts back the replica set's previous template.
 */
import { UsageError } from '../cli/args.js';
import { clusterOptions, waitOptions, openCluster, parseRef, progressPrinter, secondsOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import { changeFormats, outputFormat, printChanges } from '../output/format.js';

export const command: CommandModule = {
  usage: 'rollout undo replicaset/NAME [--wait] [-o text|json|yaml|name] [--store URL]',
  formats: changeFormats,
  description: 'Rolls a replica set back to its previous template (a rolling update, like any template change). --wait converges in this process.',
  deployOptions: false,
  options: [
    ...waitOptions,
    ...clusterOptions,
  ],
  async run(ctx) {
    const [verb, ...rest] = ctx.args.positionals;
    if (verb !== 'undo') throw new UsageError(`rollout: expected "undo", got ${verb ?? 'nothing'}`);
    const { name } = parseRef(rest, ['ReplicaSet']);
    const format = outputFormat(ctx, changeFormats);
    const s = await openCluster(ctx);
    try {
      const r = await s.cluster.rolloutUndo(s.store, name);
      await printChanges(ctx, format, [{ kind: 'ReplicaSet', name, action: 'rolled-back', from: r.from, to: r.to }], () => `replicaset/${name} rolled back (template ${r.from} → ${r.to})`);
      if (ctx.args.options.wait === true)
        await s.cluster.converge({ store: s.store, runtime: s.runtime(), names: [name], timeoutMs: secondsOption(ctx, 'timeout', 300_000), onProgress: progressPrinter(ctx) });
      return 0;
    } finally {
      await s.close();
    }
  },
};
