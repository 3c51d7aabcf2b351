/**
 * `flo`: parse, call a package, print. Exit codes: 0 ok, 1 the operation failed (e.g. a host
 * failed), 2 usage error. Results go to stdout; progress and logs to stderr.
 */
import { readFileSync } from 'node:fs';
import { firstPositional, formatOptions, parseArgs, UsageError, type OptionSpec } from './cli/args.js';
import { basicOptions, deployOptions } from './cli/global-options.js';
import type { CommandContext, CommandEntry, CommandModule } from './cli/registry.js';
import { commands, taskCommand } from './commands/index.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const listOption: OptionSpec = { name: 'list', type: 'boolean', description: 'list the deployfile tasks' };
const taskOptions: OptionSpec[] = [
  listOption,
  { name: 'place', type: 'string', value: 'lowest-load', description: 'run each per-host task on the selected host with the lowest load per core' },
];

function globalHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    `flo ${version()} — deploy over ssh, place by load, keep a cluster running`,
    '',
    'Usage:',
    '  flo [options] task[:arg,key=value] [task…]   run deployfile tasks on hosts',
    '  flo --list                                  list deployfile tasks',
    '  flo <command> [options] [args]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Options:',
    formatOptions([...basicOptions, ...taskOptions, ...deployOptions]),
    '',
    'Run `flo <command> --help` for a command. Exit codes: 0 ok, 1 failed, 2 usage.',
    '',
  ].join('\n');
}

function commandHelp(entry: CommandEntry, mod: CommandModule, specs: readonly OptionSpec[]): string {
  return [`Usage: flo ${mod.usage}`, '', mod.description ?? entry.summary, '', 'Options:', formatOptions(specs), ''].join('\n');
}

const USAGE_CODES = new Set(['NO_HOSTS', 'TASK_ARGUMENTS', 'UNKNOWN_HOST']);

/** Runs `flo` with these arguments; resolves to the exit code. */
export async function main(argv: readonly string[], io: Pick<CommandContext, 'stdout' | 'stderr' | 'stdin' | 'env' | 'cwd'>): Promise<number> {
  const dd = argv.indexOf('--');
  const head = dd >= 0 ? argv.slice(0, dd) : argv;
  if (head.includes('--version')) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const scanSpecs = [...basicOptions, ...taskOptions, ...deployOptions];
  const first = firstPositional(argv, scanSpecs);
  let entry = first ? commands.find((c) => c.name === first.value) : undefined;
  let rest = argv;
  if (entry && first) rest = [...argv.slice(0, first.index), ...argv.slice(first.index + 1)];
  if (!entry) {
    if (!first && !head.includes('--list')) {
      if (head.includes('--help') || head.includes('-h') || argv.length === 0) {
        (argv.length === 0 ? io.stderr : io.stdout).write(globalHelp());
        return argv.length === 0 ? 2 : 0;
      }
    }
    entry = taskCommand;
  }
  const mod = (await entry.load()).command;
  const specs = [...basicOptions, ...(entry === taskCommand ? taskOptions : []), ...(mod.deployOptions === false ? [] : deployOptions), ...(mod.options ?? [])];
  const stderrWrite = (m: string): void => void io.stderr.write(m);
  try {
    const args = parseArgs(rest, specs);
    if (args.options.help) {
      io.stdout.write(entry === taskCommand ? globalHelp() : commandHelp(entry, mod, specs));
      return 0;
    }
    return await mod.run({ ...io, args, reserved: [...commands.map((c) => c.name), taskCommand.name, 'help', 'version', 'list'] });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || (err.code !== undefined && USAGE_CODES.has(err.code))) {
      stderrWrite(`flo: ${err.message}\nRun \`flo ${entry === taskCommand ? '' : `${entry.name} `}--help\` for usage.\n`);
      return 2;
    }
    stderrWrite(`flo: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}\n`);
    if (io.env.FLOTILLA_DEBUG) stderrWrite(`${err.stack ?? ''}\n`);
    return 1;
  }
}

