import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { deploySetup, finishRun, outputFormat } from '../cli/deploy-context.js';
import type { CommandModule } from '../cli/registry.js';
import { formatTable } from '../output/table.js';

export const command: CommandModule = {
  usage: '[options] task[:arg,key=value] [task…]',
  description: 'Runs deployfile tasks, in order, on the selected hosts (or the task\'s own hosts).',
  async run(ctx) {
    const format = outputFormat(ctx);
    const deploy = await import('@flotilla/deploy');
    const file = typeof ctx.args.options.file === 'string' ? resolve(ctx.cwd, ctx.args.options.file) : deploy.findDeployfile(ctx.cwd);
    if (!file) throw new UsageError(`no deployfile: none of ${deploy.DEPLOYFILE_NAMES.join(', ')} in ${ctx.cwd} or above (or name one with -f)`);
    if (ctx.args.options.list) {
      const tasks = await deploy.loadDeployfile(file, { reserved: ctx.reserved });
      const rows = [...tasks.values()].map((t) => ({ name: t.name, help: t.task.help, once: t.task.once, hosts: t.task.hosts ?? null }));
      if (format === 'json') ctx.stdout.write(`${JSON.stringify(rows)}\n`);
      else ctx.stdout.write(formatTable(rows.map((r) => [r.name, `${r.help}${r.once ? ' (once, local)' : ''}`])));
      return 0;
    }
    if (ctx.args.positionals.length === 0) throw new UsageError('no task given (flo --list shows the tasks)');
    let invocations;
    try {
      invocations = ctx.args.positionals.map((p) => deploy.parseTaskInvocation(p));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const place = ctx.args.options.place;
    if (place !== undefined && place !== 'lowest-load') throw new UsageError(`--place ${String(place)}: expected lowest-load`);
    const s = await deploySetup(ctx, format);
    try {
      // Hosts chosen on the command line with the default concurrency: start connecting now,
      // so the ssh handshakes overlap with loading the deployfile.
      const o = ctx.args.options;
      if (!deploy.isEmptySelection(s.selection) && o.threads === undefined && o.parallel === undefined && !o.serial && o.batch === undefined) {
        let refs: ReturnType<typeof deploy.selectHosts> = [];
        try {
          refs = deploy.selectHosts(s.inventory, s.selection);
        } catch {
          /* reported by runTasks */
        }
        if (refs.length <= 64) for (const r of refs) s.connect(r).warm();
      }
      const tasks = await deploy.loadDeployfile(file, { reserved: ctx.reserved });
      const perHost = invocations.some((i) => tasks.get(i.name)?.task.once === false);
      const count = deploy.isEmptySelection(s.selection) ? s.inventory.length : deploy.selectHosts(s.inventory, s.selection).length;
      const pool = perHost ? s.pool(count, file) : undefined;
      const results = await deploy.runTasks({
        ...(pool ? { pool } : {}),
        ...s.group,
        tasks,
        invocations,
        selection: s.selection,
        inventory: s.inventory,
        cwd: ctx.cwd,
        connect: s.connect,
        onOutput: s.hostLine,
        onWarning: (m) => s.log(s.errColors.yellow(m)),
        ...(place === 'lowest-load' ? { place } : {}),
        onTaskStart: (name, hosts) => {
          if (format !== 'json') s.log(s.errColors.bold(`task ${name} on ${hosts.join(', ')}`));
          s.progress.start(hosts.length);
        },
      });
      return await finishRun(
        ctx,
        s,
        results.map((r) => r.result),
      );
    } finally {
      await s.close();
    }
  },
};
