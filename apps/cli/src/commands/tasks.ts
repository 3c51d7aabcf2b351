/**
 * Deployfile tasks: `flo task[:args]` runs tasks of flotilla.config.ts on the selected hosts;
 * `flo --list` lists them.
 */
import { extname, relative, resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { deploySetup, finishRun, listHostsIfAsked, summaryFormats } from '../cli/deploy-context.js';
import { isDocumentFormat, outputFormat, printOutput } from '../output/format.js';
import type { CommandModule } from '../cli/registry.js';
import { unknownWordError } from '../cli/suggest.js';
import { formatTable } from '../output/table.js';
import { commandWords } from './index.js';

/** The extensions a deployfile (a module jiti loads) may have. */
const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']);

/** The task name of an invocation word (`deploy:app,x=1` → `deploy`). */
function taskWord(word: string): string {
  const colon = word.indexOf(':');
  return colon >= 0 ? word.slice(0, colon) : word;
}

export const command: CommandModule = {
  usage: '[options] task[:arg,key=value] [task…]',
  formats: summaryFormats,
  description: 'Runs deployfile tasks, in order, on the selected hosts (or the task\'s own hosts).',
  async run(ctx) {
    const format = outputFormat(ctx, summaryFormats);
    const deploy = await import('@flotilla/deploy');
    const given = typeof ctx.args.options.file === 'string' ? ctx.args.options.file : undefined;
    const file = given !== undefined ? resolve(ctx.cwd, given) : deploy.findDeployfile(ctx.cwd);
    // A word given where no deployfile can say what it means (none found, or -f names a file
    // that is no module, as in `flo diff -f app.yaml`) is an unknown word, not a task.
    const first = ctx.args.positionals[0];
    if (first !== undefined && !ctx.args.options.list) {
      if (!file) throw unknownWordError(taskWord(first), commandWords(), `(no deployfile: none of ${deploy.DEPLOYFILE_NAMES.join(', ')} in ${ctx.cwd} or above, so no tasks)`);
      if (given !== undefined && !MODULE_EXTENSIONS.has(extname(file))) {
        throw unknownWordError(taskWord(first), commandWords(), `(-f ${relative(ctx.cwd, file) || given} is not a deployfile: a deployfile is a .ts or .js module)`);
      }
    }
    if (!file) throw new UsageError(`no deployfile: none of ${deploy.DEPLOYFILE_NAMES.join(', ')} in ${ctx.cwd} or above (or name one with -f)`);
    if (ctx.args.options.list) {
      const tasks = await deploy.loadDeployfile(file, { reserved: ctx.reserved });
      const rows = [...tasks.values()].map((t) => ({ name: t.name, help: t.task.help, once: t.task.once, hosts: t.task.hosts ?? null }));
      await printOutput(ctx, format, { json: () => rows, text: () => void ctx.stdout.write(formatTable(rows.map((r) => [r.name, `${r.help}${r.once ? ' (once, local)' : ''}`]))) });
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
      if (o['list-hosts'] !== true && !deploy.isEmptySelection(s.selection) && o.threads === undefined && o.parallel === undefined && !o.serial && o.batch === undefined) {
        let refs: ReturnType<typeof deploy.selectHosts> = [];
        try {
          refs = deploy.selectHosts(s.inventory, s.selection);
        } catch {
          /* reported by runTasks */
        }
        if (refs.length <= 64) for (const r of refs) s.connect(r).warm();
      }
      const tasks = await deploy.loadDeployfile(file, { reserved: ctx.reserved });
      const unknown = invocations.find((i) => !tasks.has(i.name));
      if (unknown) throw unknownWordError(unknown.name, [...commandWords(), ...tasks.keys()], `(the deployfile ${relative(ctx.cwd, file) || file} has no such task; flo --list shows its tasks)`);
      if (o['list-hosts'] === true) {
        // As runTasks picks them: the command line's selection, else the task's own hosts; `once` tasks run here.
        const groups = invocations.map((inv) => {
          const task = tasks.get(inv.name)!.task;
          if (task.once) return { title: `task ${inv.name}`, names: ['local'] };
          let selection = s.selection;
          if (deploy.isEmptySelection(selection)) {
            if (task.hosts === undefined) throw new UsageError(`no hosts selected for task "${inv.name}": use -H, -R or -l, or give the task a hosts option`);
            selection = typeof task.hosts === 'string' ? { selector: task.hosts } : { hosts: [...task.hosts] };
          }
          return { title: `task ${inv.name}`, names: deploy.selectHosts(s.inventory, selection).map((r) => r.name) };
        });
        return (await listHostsIfAsked(ctx, s, groups))!;
      }
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
          if (!isDocumentFormat(format)) s.log(s.errColors.bold(`task ${name} on ${hosts.join(', ')}`));
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
