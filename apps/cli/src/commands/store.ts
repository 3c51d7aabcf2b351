/**
 * `flo store check|repair`: checks a store and, for a file store, repairs a damaged log
 * (store-repair.ts).
 */
import { outputFormat, printDocument, type OutputFormat } from '../output/format.js';
import { UsageError } from '../cli/args.js';
import { remoteStoreOptions, requestTimeoutOption, secondsOption, storeUrl } from '../cli/cluster-context.js';
import { waitingNotice } from '../cli/waiting.js';
import { storeCredentialOptions } from '../cli/store-credentials.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import type * as Cluster from '@flotilla/cluster';

const storeOption = { name: 'store', type: 'string', value: 'URL', description: 'the store: file:///abs/dir (default $FLO_STORE, else ./.flotilla), flotilla://h:p,…, etcd://h:p,…' } as const;

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function kinds(k: Record<string, number>): string {
  const parts = Object.entries(k)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([kind, n]) => `${kind} ${n}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** `a, b, c and 12 more`. */
export function listSome(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

/** One paragraph: what a repair keeps and drops. */
export function describePlan(plan: Cluster.FileStoreRepairPlan, verb: { keep: string; drop: string }): string[] {
  if (!plan.possible) return [`cannot repair: ${plan.reason ?? ''}`];
  const out = [`${verb.keep} revision ${plan.keep.revision} (${plan.keep.keys} keys)${plan.snapshotRebuilt ? ', the snapshot rebuilt from the log' : ''}`];
  const d = plan.dropped;
  if (d.records === 0) out.push(`${verb.drop} no change to any key`);
  else {
    const revs = d.fromRevision !== undefined ? `, revisions ${d.fromRevision}–${d.toRevision ?? '?'}` : '';
    out.push(`${verb.drop} ${d.records} record${d.records === 1 ? '' : 's'} from byte ${d.offset ?? 0} of the log on${revs}`);
    if (d.keys.length > 0) out.push(`  keys changed by them: ${listSome(d.keys)}`);
    if (d.unverifiedKeys.length > 0) out.push(`  keys named by damaged records (unverified): ${listSome(d.unverifiedKeys)}`);
    if (d.unreadable > 0) out.push(`  ${d.unreadable} unreadable record${d.unreadable === 1 ? '' : 's'} (keys unknown)`);
  }
  if (plan.droppedHistory > 0)
    out.push(`${verb.drop} ${plan.droppedHistory} history record${plan.droppedHistory === 1 ? '' : 's'} the snapshot already holds (no state lost; watchers from before revision ${plan.keep.compactRevision + 1} re-list)`);
  return out;
}

function printFile(ctx: CommandContext, r: Cluster.FileStoreReport): void {
  const w = (s: string): void => void ctx.stdout.write(`${s}\n`);
  w(`store     ${r.dir} (file)`);
  if (r.status === 'missing') {
    w('status    missing: no store here');
    return;
  }
  const s = r.snapshot;
  w(
    `snapshot  ${s.path}: ${
      !s.present
        ? 'missing'
        : s.problem !== undefined
          ? `DAMAGED (${s.problem}), ${size(s.bytes)}`
          : `${s.format ?? ''}, revision ${s.revision ?? 0} (history from ${(s.compactRevision ?? 0) + 1}), ${s.keys ?? 0} keys, ${size(s.bytes)}`
    }`,
  );
  const l = r.log;
  w(
    `log       ${l.path}: ${
      !l.present ? 'missing' : `${l.format ?? 'empty'}, ${l.records} records${l.firstRevision !== undefined ? `, revisions ${l.firstRevision}–${l.lastRevision ?? ''}` : ''}, ${size(l.bytes)}`
    }`,
  );
  if (r.state) w(`state     revision ${r.state.revision}, ${r.state.keys} keys${kinds(r.state.kinds)}`);
  for (const n of r.notices) w(`notice    ${n}`);
  if (r.status === 'ok') {
    w('status    ok');
    return;
  }
  w(`status    DAMAGED: ${r.damage.length} problem${r.damage.length === 1 ? '' : 's'} (opening refuses the first)`);
  for (const d of r.damage) w(`  ${d.file} at byte ${d.offset}: ${d.problem}`);
  if (r.repair) {
    w('`flo store repair --keep-intact` would:');
    for (const line of describePlan(r.repair, { keep: 'keep', drop: 'drop' })) w(`  ${line}`);
  }
}

const storeFormats: readonly OutputFormat[] = ['text', 'json', 'yaml'];

export const command: CommandModule = {
  usage: 'store check [--store URL] [-o text|json|yaml]\n       flo store repair --keep-intact [--store URL] [-o text|json|yaml]',
  description: [
    'check: verifies a store without changing it. A file store is read record by record: every record and the snapshot',
    'against their CRC-32C, revisions in order, each change following from the state before it; prints the files, the',
    'revision range, the objects by kind, every damage found with its byte offset, and what a repair would keep and drop.',
    'Exit 0 when the store opens (a torn last record or an old format without checksums are notices: opening fixes them),',
    '1 when it is damaged or missing. A flotilla:// or etcd:// store keeps its data on its servers, which verify it',
    'themselves; check lists every Flotilla object through it (reachable, readable at one revision); exit 1 when it cannot.',
    '',
    'repair --keep-intact (file stores only): under the store\'s lock, keeps every intact record up to the first damage',
    '(damage among history records the snapshot already holds loses no state), keeps the original files beside the new',
    'ones as snapshot.json.damaged-<time> and log.jsonl.damaged-<time>, and prints exactly what was dropped: the records,',
    'their revisions and the keys they changed. Without --keep-intact it changes nothing, prints what it would drop and',
    'exits 2. Exit 1 when nothing consistent can be kept (the snapshot is lost and the log does not start at revision 1:',
    'restore a backup).',
  ].join('\n'),
  formats: storeFormats,
  subcommands: ['check', 'repair'],
  deployOptions: false,
  options: [storeOption, ...storeCredentialOptions, requestTimeoutOption, { name: 'keep-intact', type: 'boolean', description: 'repair: keep every intact record up to the first damage, drop the rest' }],
  async run(ctx) {
    const [verb, extra] = ctx.args.positionals;
    if (verb === undefined) throw new UsageError('store needs a subcommand: check or repair');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const raw = outputFormat(ctx, storeFormats);
    if (raw === 'wide' || raw === 'name') throw new UsageError(`-o ${raw}: expected one of ${storeFormats.join(', ')}`);
    if (verb === 'repair') return (await import('./store-repair.js')).repair(ctx, raw);
    if (verb !== 'check') throw new UsageError(`unknown subcommand "${verb}" (expected check or repair)`);
    if (ctx.args.options['keep-intact'] !== undefined) throw new UsageError('--keep-intact is an option of store repair');
    const cluster = await import('@flotilla/cluster');
    const url = storeUrl(ctx);
    const shown = url === undefined ? undefined : cluster.redactStoreUrl(url);
    if (shown !== undefined && !shown.startsWith('file://')) ctx.stderr.write(`flo: listing every object of ${shown}\n`);
    const location = cluster.parseStoreUrl(url, ctx.cwd);
    const checking = cluster.checkStore(url, remoteStoreOptions(ctx));
    // A remote store that never answers: said within a second, given up at --request-timeout.
    const report = location.type === 'file' ? await checking : await waitingNotice(ctx, location.endpoints, { timeoutMs: secondsOption(ctx, 'request-timeout', 10_000), deadline: true })(checking, 'the check');
    if (raw !== 'text') await printDocument(ctx, raw, report);
    else if (report.type === 'file') printFile(ctx, report);
    else {
      const w = (s: string): void => void ctx.stdout.write(`${s}\n`);
      w(`store     ${shown ?? ''} (${report.type}: ${report.endpoints.join(', ')})`);
      if (report.status === 'ok') {
        w(`state     revision ${report.revision ?? 0}, ${report.keys ?? 0} Flotilla objects${kinds(report.kinds ?? {})}`);
        w('status    ok (reachable; every object listed at one revision)');
      } else w(`status    UNREACHABLE: ${report.error ?? ''}`);
      w(`note      ${report.note}`);
    }
    return report.status === 'ok' ? 0 : 1;
  },
};
