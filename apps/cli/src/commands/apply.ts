/**
 * `flo apply`: makes the store say what the manifests say; `--dry-run` shows what would
 * change (the change lines, then `flo diff`'s field-level diff).
 */
import { resolve } from 'node:path';
import type * as Cluster from '@flotilla/cluster';
import { UsageError } from '../cli/args.js';
import { clusterOptions, waitOptions, openCluster, progressPrinter, secondsOption, selectorOption, stringOption } from '../cli/cluster-context.js';
import { filenameOptions, filenames, readManifestSources } from '../cli/manifest-input.js';
import type { CommandModule } from '../cli/registry.js';
import { colorsFor } from '../output/colors.js';
import { diffPlan, paintDiff } from '../output/diff.js';
import { changeFormats, changeLine, outputFormat, printChanges, type Change } from '../output/format.js';

export const command: CommandModule = {
  usage: 'apply -f FILE|DIR|- [-f …] [-R] [--wait] [--dry-run] [--prune -l SELECTOR] [--artifacts DIR] [--store URL] [-o text|json|yaml|name]',
  formats: changeFormats,
  description:
    'Makes the store say what the manifests say (Host, ReplicaSet, Service documents; several per file; -f DIR takes its .yaml, .yml and .json files in name order, -R its subdirectories too; -f - reads stdin). Every file is validated first and every problem is reported with its file, line and YAML path; nothing changes unless all are valid. Each object is printed as soon as it is written (with -o json|yaml|name, as progress on stderr; stdout gets the result at the end: {"items":[{"kind","name","action"}]} or kind/name lines), so an interrupted apply has said what it did. A write that meets a concurrent change (a controller writing status, another apply) is redone from the fresh object, up to 20 times, before it fails with a conflict. Local artifacts are copied into the content-addressed artifact directory. A manifest\'s status (as `flo get -o yaml` prints it) is ignored. A later apply overrides `flo scale`. --prune -l SELECTOR deletes objects of that selector missing from the files. --dry-run changes nothing and prints what would change, then the field-level diff `flo diff` prints. --wait runs the controllers in this process until the replica sets are ready (or waits for a running `flo controller`); instances keep running after flo exits.',
  deployOptions: false,
  options: [
    ...filenameOptions('apply'),
    ...waitOptions,
    { name: 'dry-run', type: 'boolean', description: 'validate and show what would change (with the field-level diff), change nothing' },
    { name: 'prune', type: 'boolean', description: 'delete objects matching -l that the files do not mention' },
    { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'label selector for --prune' },
    { name: 'artifacts', type: 'string', value: 'DIR', description: 'artifact directory (default <store dir>/artifacts)' },
    ...clusterOptions,
  ],
  async run(ctx) {
    if (filenames(ctx).length === 0) throw new UsageError('apply needs -f FILE (a file, a directory, or - for stdin)');
    if (ctx.args.positionals.length > 0) throw new UsageError(`unexpected argument ${ctx.args.positionals[0]}`);
    const prune = ctx.args.options.prune === true;
    const selector = await selectorOption(ctx);
    if (prune && selector === undefined) throw new UsageError('--prune needs -l SELECTOR (which objects may be deleted)');
    const format = outputFormat(ctx, changeFormats);
    const artifacts = stringOption(ctx, 'artifacts');
    const dryRun = ctx.args.options['dry-run'] === true;
    const sources = await readManifestSources(ctx);
    const s = await openCluster(ctx, { ...(artifacts !== undefined ? { artifactDir: resolve(ctx.cwd, artifacts) } : {}), readOnly: dryRun });
    try {
      const loaded = s.cluster.loadManifests(sources); // each object with its file's base directory
      const options = prune ? { prune: selector! } : {};
      const suffix = dryRun ? ' (dry run)' : '';
      let changes: Change[];
      if (dryRun) {
        const plan = await s.cluster.planApply(s.store, loaded, options);
        changes = plan.map((c) => ({ kind: c.kind, name: c.name, action: c.action }));
        if (format === 'text') {
          ctx.stdout.write(changes.map((c) => `${changeLine(c)}${suffix}\n`).join(''));
          ctx.stdout.write(paintDiff(await diffPlan(s.cluster, plan), colorsFor(ctx.stdout, ctx.env)));
        } else await printChanges(ctx, format, changes);
        return 0;
      }
      // Each object is reported as soon as it is written, so an interrupted apply has said
      // what it did: on stdout for the text format; for the others, whose stdout is the
      // result printed at the end, as progress on stderr.
      const out = format === 'text' ? ctx.stdout : ctx.stderr;
      changes = await s.cluster.applyManifests(s.store, loaded, { ...options, onApplied: (c: Cluster.AppliedChange) => void out.write(`${changeLine(c)}\n`) });
      if (format !== 'text') await printChanges(ctx, format, changes);
      if (ctx.args.options.wait === true) {
        const names = loaded.filter(({ object: o }) => o.kind === 'ReplicaSet').map(({ object: o }) => o.metadata.name);
        await s.cluster.converge({
          store: s.store,
          runtime: s.runtime(),
          names,
          timeoutMs: secondsOption(ctx, 'timeout', 300_000),
          onProgress: progressPrinter(ctx),
        });
      }
      return 0;
    } finally {
      await s.close();
    }
  },
};
