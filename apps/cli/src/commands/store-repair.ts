/**
 * `flo store repair`: plans and applies the repair of a damaged file store, saying what is
 * kept and what is dropped.
 */
import { printDocument, type DocumentFormat } from '../output/format.js';
import { UsageError } from '../cli/args.js';
import { storeUrl } from '../cli/cluster-context.js';
import type { CommandContext } from '../cli/registry.js';
import { describePlan } from './store.js';

/** `flo store repair [--keep-intact]` (see `flo store --help`). */
export async function repair(ctx: CommandContext, format: 'text' | DocumentFormat): Promise<number> {
  const cluster = await import('@flotilla/cluster');
  const url = storeUrl(ctx);
  const location = cluster.parseStoreUrl(url, ctx.cwd);
  if (location.type !== 'file')
    throw new UsageError(
      `store repair applies to file stores only: a ${location.type}:// store keeps its data on its servers, which refuse damaged data themselves — ` +
        (location.type === 'flotilla'
          ? 'restore a damaged member from `flo kv snapshot save` (flo server --restore FILE) or remove it and add it again'
          : 'restore etcd with etcdutl snapshot restore'),
    );
  const out = (s: string): void => void ctx.stdout.write(`${s}\n`);
  if (ctx.args.options['keep-intact'] !== true) {
    const report = await cluster.checkFileStore(location.dir);
    if (format !== 'text') await printDocument(ctx, format, { repaired: false, ...report });
    if (report.status === 'missing') {
      ctx.stderr.write(`flo: no file store in ${location.dir}\n`);
      return 1;
    }
    if (report.status === 'ok') {
      if (format === 'text') out(`${location.dir}: not damaged, nothing to repair${report.notices.length > 0 ? ` (${report.notices.join('; ')})` : ''}`);
      return 0;
    }
    if (format === 'text') {
      out(`${location.dir}: DAMAGED — ${report.damage[0]?.file ?? ''} at byte ${report.damage[0]?.offset ?? 0}: ${report.damage[0]?.problem ?? ''}`);
      if (report.repair) for (const line of describePlan(report.repair, { keep: 'would keep', drop: 'would drop' })) out(line);
    }
    throw new UsageError(
      'refusing to repair without --keep-intact: a repair keeps every intact record up to the first damage and drops the rest (listed above). ' +
        'Run `flo store repair --keep-intact` to do that (the original files are kept beside the new ones), or restore the store from a backup',
    );
  }
  let result: Awaited<ReturnType<typeof cluster.repairFileStore>>;
  try {
    result = await cluster.repairFileStore(location.dir, { keepIntact: true, onWarning: (m) => void ctx.stderr.write(`flo: warning: ${m}\n`) });
  } catch (e) {
    if (cluster.isClusterError(e) && e.code === 'not-found') {
      ctx.stderr.write(`flo: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (format !== 'text') {
    await printDocument(ctx, format, result);
    return 0;
  }
  if (!result.repaired) {
    out(`${location.dir}: not damaged, nothing to repair`);
    return 0;
  }
  if (result.damage.length > 0) out(`${location.dir}: repaired damage — ${result.damage[0]!.file} at byte ${result.damage[0]!.offset}: ${result.damage[0]!.problem}`);
  else out(`${location.dir}: not damaged; rewritten (a torn last record cut, or checksums added)`);
  for (const line of describePlan(result, { keep: 'kept', drop: 'dropped' })) out(line);
  for (const p of result.movedAside) out(`original kept as ${p}`);
  return 0;
}
