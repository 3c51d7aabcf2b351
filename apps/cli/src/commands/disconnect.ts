/**
 * `flo disconnect`: closes the ssh connections kept open by --persist (the per-user connection
 * daemon); `--list` shows them.
 */
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';
import { outputFormat, printOutput, type OutputFormat } from '../output/format.js';
import { formatTable } from '../output/table.js';

const formats: readonly OutputFormat[] = ['text', 'json', 'yaml'];

export const command: CommandModule = {
  usage: 'disconnect [--list] [-o json|yaml]',
  formats,
  description:
    'Closes the ssh connections kept open by --persist (stops the per-user connection daemon). With --list, prints them instead: host, user@address:port, open or dead, seconds since last use (-o json: [{"label","user","hostName","port","open","idleMs"}]). The daemon socket lives in $FLO_CONTROL_DIR, else $XDG_RUNTIME_DIR/flotilla, else /tmp/flotilla-<uid>.',
  deployOptions: false,
  options: [{ name: 'list', type: 'boolean', description: 'list the persisted connections instead of closing them' }],
  async run(ctx) {
    if (ctx.args.positionals.length) throw new UsageError(`disconnect takes no arguments (got ${ctx.args.positionals.join(' ')})`);
    const format = outputFormat(ctx, formats);
    const { listPersisted, stopPersisted } = await import('@flotilla/deploy');
    const controlDir = ctx.env.FLO_CONTROL_DIR || undefined;
    if (ctx.args.options.list) {
      const list = (await listPersisted(controlDir ? { controlDir } : {})) ?? [];
      await printOutput(ctx, format, {
        json: () => list,
        text: () => {
          if (list.length === 0) ctx.stderr.write('no persisted connections\n');
          else ctx.stdout.write(formatTable(list.map((c) => [c.label, `${c.user}@${c.hostName}:${c.port}`, c.open ? 'open' : 'dead', `${Math.round(c.idleMs / 1000)}s`])));
        },
      });
      return 0;
    }
    const stopped = await stopPersisted(controlDir ? { controlDir } : {});
    if (format !== 'text') await printOutput(ctx, format, { json: () => ({ stopped }) });
    else ctx.stderr.write(stopped ? 'closed the persisted connections\n' : 'no connection daemon is running\n');
    return 0;
  },
};
