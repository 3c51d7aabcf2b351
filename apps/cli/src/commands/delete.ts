/**
 * `flo delete`: deletes objects named on the command line or in manifest files, stopping their
 * instances first.
 */
import type * as Cluster from '@flotilla/cluster';
import { UsageError } from '../cli/args.js';
import { clusterOptions, timeoutOption, openCluster, parseRef, progressPrinter, secondsOption } from '../cli/cluster-context.js';
import { filenameOptions, filenames, readManifestSources } from '../cli/manifest-input.js';
import type { CommandModule } from '../cli/registry.js';
import { changeFormats, outputFormat, printChanges, type Change } from '../output/format.js';

export const command: CommandModule = {
  usage: 'delete -f FILE|DIR|- [-f …] [-R] | delete <kind>/<name> [--no-wait] [--force] [--timeout SECONDS] [-o text|json|yaml|name] [--store URL]',
  formats: changeFormats,
  description:
    "Deletes objects: services, replica sets and instances first, hosts last. A replica set's instances are stopped on their hosts: delete runs the controllers in this process until they are gone (or waits for a running `flo controller`), unless --no-wait. A host is deleted only once no instance is bound to it: with the replica sets running on it in the same delete, after their instances are stopped (it is cordoned meanwhile); a host that runs instances nobody deletes is refused, naming them — delete their replica sets too, or `flo drain` it first. --force deletes hosts at once, leaving whatever still runs there untracked (for hosts that are gone for good). Exits 1 when an object is not found or refused. -o json|yaml print {\"items\":[{\"kind\",\"name\",\"action\":\"deleted\"}]} at the end; -o name the kind/name lines.",
  deployOptions: false,
  options: [
    ...filenameOptions('delete'),
    { name: 'no-wait', type: 'boolean', description: 'return without waiting for instances to stop (hosts whose instances still run are refused)' },
    { name: 'force', type: 'boolean', description: 'delete hosts even with instances bound to them (their processes keep running, untracked)' },
    timeoutOption,
    ...clusterOptions,
  ],
  async run(ctx) {
    const format = outputFormat(ctx, changeFormats);
    const fromFiles = filenames(ctx).length > 0;
    if (fromFiles && ctx.args.positionals.length > 0) throw new UsageError('give either -f FILE or <kind>/<name>, not both');
    const ref = fromFiles ? undefined : (parseRef(ctx.args.positionals, ['Host', 'ReplicaSet', 'Service', 'Instance', 'Network']) as Cluster.DeleteTarget);
    const sources = fromFiles ? await readManifestSources(ctx) : [];
    const s = await openCluster(ctx);
    try {
      const targets: Cluster.DeleteTarget[] = ref ? [ref] : s.cluster.loadManifests(sources).map(({ object: o }) => ({ kind: o.kind, name: o.metadata.name }));
      const deleted: Change[] = [];
      let failed = 0;
      await s.cluster.deleteResources(targets, {
        store: s.store,
        runtime: s.runtime(),
        wait: ctx.args.options['no-wait'] !== true,
        force: ctx.args.options.force === true,
        timeoutMs: secondsOption(ctx, 'timeout', 300_000),
        onProgress: progressPrinter(ctx),
        onDeleted: (r) => {
          const ref = `${r.kind.toLowerCase()}/${r.name}`;
          if (r.result === 'deleted') {
            deleted.push({ kind: r.kind, name: r.name, action: 'deleted' });
            (format === 'text' ? ctx.stdout : ctx.stderr).write(`${ref} deleted\n`);
          }
          else {
            failed++;
            ctx.stderr.write(`flo: ${r.result === 'not-found' ? `${ref} not found` : (r.message ?? `${ref} refused`)}\n`);
          }
        },
      });
      if (format !== 'text') await printChanges(ctx, format, deleted);
      return failed > 0 ? 1 : 0;
    } finally {
      await s.close();
    }
  },
};
