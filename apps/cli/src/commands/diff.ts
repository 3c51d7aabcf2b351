/**
 * `flo diff -f FILES`: what `flo apply` would change, field by field, as a unified diff of
 * each live object against the object apply would write (`kubectl diff`). Exit 0: no
 * differences; 1: differences; 2 (more than 1): an error, as kubectl diff.
 */
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster, selectorOption, stringOption } from '../cli/cluster-context.js';
import { filenameOptions, filenames, readManifestSources } from '../cli/manifest-input.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import { colorsFor } from '../output/colors.js';
import { diffPlan, paintDiff } from '../output/diff.js';

async function diff(ctx: CommandContext): Promise<number> {
  if (filenames(ctx).length === 0) throw new UsageError('diff needs -f FILE (a file, a directory, or - for stdin)');
  if (ctx.args.positionals.length > 0) throw new UsageError(`unexpected argument ${ctx.args.positionals[0]}`);
  const prune = ctx.args.options.prune === true;
  const selector = await selectorOption(ctx);
  if (prune && selector === undefined) throw new UsageError('--prune needs -l SELECTOR (which objects apply --prune would delete)');
  const artifacts = stringOption(ctx, 'artifacts');
  const sources = await readManifestSources(ctx);
  const s = await openCluster(ctx, { ...(artifacts !== undefined ? { artifactDir: resolve(ctx.cwd, artifacts) } : {}), readOnly: true });
  try {
    const loaded = s.cluster.loadManifests(sources); // each object with its file's base directory
    const plan = await s.cluster.planApply(s.store, loaded, prune ? { prune: selector! } : {});
    const text = await diffPlan(s.cluster, plan);
    ctx.stdout.write(paintDiff(text, colorsFor(ctx.stdout, ctx.env)));
    return text === '' ? 0 : 1;
  } finally {
    await s.close();
  }
}

export const command: CommandModule = {
  usage: 'diff -f FILE|DIR|- [-f …] [-R] [--prune -l SELECTOR] [--artifacts DIR] [--store URL]',
  description: [
    'Shows what `flo apply` of these manifests would change, field by field, changing nothing: for each object that would be',
    'created, configured or (with --prune) deleted, a unified diff (diff -u) of the live object (--- LIVE/kind/name) against the',
    'object apply would write (+++ MERGED/kind/name), both as manifests with only the fields a user sets: apiVersion, kind,',
    'metadata (name, labels, annotations) and spec (a local artifact as the content-addressed copy apply would make).',
    'Exit status, as kubectl diff: 0 no differences, 1 differences found, 2 an error (bad input, unreachable store, …).',
  ].join('\n'),
  deployOptions: false,
  formats: ['text'],
  options: [
    ...filenameOptions('compare'),
    { name: 'prune', type: 'boolean', description: 'also show the objects matching -l that apply --prune would delete' },
    { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'label selector for --prune' },
    { name: 'artifacts', type: 'string', value: 'DIR', description: 'artifact directory (default <store dir>/artifacts)' },
    ...clusterOptions,
  ],
  async run(ctx) {
    try {
      return await diff(ctx);
    } catch (e) {
      if (e instanceof UsageError) throw e; // exit 2 with the usage hint
      const err = e as Error;
      ctx.stderr.write(`flo: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}\n`);
      return 2;
    }
  },
};
