import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { clusterFormat, clusterOptions, waitOptions, listOption, openCluster, progressPrinter, secondsOption, stringOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';
import type * as Cluster from '@flotilla/cluster';

export const command: CommandModule = {
  usage: 'apply -f FILE [-f FILE…] [--wait] [--dry-run] [--prune -l SELECTOR] [--artifacts DIR] [--store URL] [-o json|yaml]',
  description:
    'Makes the store say what the manifests say (Host, ReplicaSet, Service documents; several per file). Every file is validated first and every problem is reported with its file, line and YAML path; nothing changes unless all are valid. Each object is printed as soon as it is written (with -o json|yaml, as progress on stderr; stdout gets one document at the end), so an interrupted apply has said what it did. A write that meets a concurrent change (a controller writing status, another apply) is redone from the fresh object, up to 20 times, before it fails with a conflict. Local artifacts are copied into the content-addressed artifact directory. A later apply overrides `flo scale`. --prune -l SELECTOR deletes objects of that selector missing from the files. --wait runs the controllers in this process until the replica sets are ready (or waits for a running `flo controller`); instances keep running after flo exits.',
  deployOptions: false,
  options: [
    { name: 'filename', short: 'f', type: 'string', multiple: true, value: 'FILE', description: 'manifest file (repeatable)' },
    ...waitOptions,
    { name: 'dry-run', type: 'boolean', description: 'validate and show what would change, change nothing' },
    { name: 'prune', type: 'boolean', description: 'delete objects matching -l that the files do not mention' },
    { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'label selector for --prune' },
    { name: 'artifacts', type: 'string', value: 'DIR', description: 'artifact directory (default <store dir>/artifacts)' },
    ...clusterOptions,
  ],
  async run(ctx) {
    const files = listOption(ctx, 'filename');
    if (files.length === 0) throw new UsageError('apply needs -f FILE');
    if (ctx.args.positionals.length > 0) throw new UsageError(`unexpected argument ${ctx.args.positionals[0]}`);
    const prune = ctx.args.options.prune === true;
    const selector = stringOption(ctx, 'selector');
    if (prune && selector === undefined) throw new UsageError('--prune needs -l SELECTOR (which objects may be deleted)');
    const format = clusterFormat(ctx, ['table', 'json', 'yaml']);
    const artifacts = stringOption(ctx, 'artifacts');
    const dryRun = ctx.args.options['dry-run'] === true;
    const s = await openCluster(ctx, { ...(artifacts !== undefined ? { artifactDir: resolve(ctx.cwd, artifacts) } : {}), readOnly: dryRun });
    try {
      const sources = await Promise.all(files.map(async (f) => ({ file: f, text: await readFile(resolve(ctx.cwd, f), 'utf8') })));
      const perFile = sources.map((src) => s.cluster.parseManifests(src.text, { file: src.file }));
      const objects = s.cluster.loadManifests(sources);
      const baseDirs = perFile.flatMap((r, i) => r.objects.map(() => s.cluster.baseDirOf(resolve(ctx.cwd, files[i]!))));
      // Each object is reported as soon as it is written, so an interrupted apply has said
      // what it did: on stdout for the table format; for -o json|yaml, whose stdout stays
      // one document printed at the end, as progress on stderr.
      const line = (c: Cluster.AppliedChange): string => `${c.kind.toLowerCase()}/${c.name} ${c.action}${dryRun ? ' (dry run)' : ''}\n`;
      const out = format === 'table' ? ctx.stdout : ctx.stderr;
      const changes = await s.cluster.applyManifests(s.store, objects, {
        baseDirs,
        dryRun,
        ...(prune ? { prune: selector! } : {}),
        onApplied: (c) => void out.write(line(c)),
      });
      if (format === 'json') ctx.stdout.write(`${JSON.stringify({ items: changes }, null, 2)}\n`);
      else if (format === 'yaml') ctx.stdout.write((await import('yaml')).stringify({ items: changes }));
      if (ctx.args.options.wait === true && !dryRun) {
        const names = objects.filter((o) => o.kind === 'ReplicaSet').map((o) => o.metadata.name);
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
