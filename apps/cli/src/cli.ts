/**
 * `flo`: parse, call a package, print. Exit codes: 0 ok, 1 the operation failed (e.g. a host
 * failed), 2 usage error. Results go to stdout; progress and logs to stderr.
 */
import { readFileSync } from 'node:fs';
import type { ClusterErrorCode } from '@flotilla/cluster';
import { isInvocationError } from '@flotilla/deploy/errors';
import { firstPositional, formatOptions, parseArgs, UsageError, type OptionSpec } from './cli/args.js';
import { basicOptions, deployOptions, isVerbose } from './cli/global-options.js';
import type { CommandContext, CommandEntry, CommandModule } from './cli/registry.js';
import { storeErrorHint } from './cli/store-hints.js';
import { unknownWordError } from './cli/suggest.js';
import { builtinWords, commandWords, commands, taskCommand } from './commands/index.js';
import { outputFormat, outputOptionSpec } from './output/format.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const listOption: OptionSpec = { name: 'list', type: 'boolean', description: 'list the deployfile tasks' };
export const taskOptions: OptionSpec[] = [
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
    '  flo help [command]                          this help, or a command\'s (as flo <command> --help)',
    '  flo version                                 the version (as flo --version)',
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

/** A command's options, as its help lists them (global, task, deploy, its own). */
export function commandSpecs(entry: CommandEntry, mod: CommandModule): OptionSpec[] {
  const formats = mod.formats;
  const basic = formats === undefined ? basicOptions : basicOptions.map((o) => (o.name === 'output' ? outputOptionSpec(formats) : o));
  return [...basic, ...(entry === taskCommand ? taskOptions : []), ...(mod.deployOptions === false ? [] : deployOptions), ...(mod.options ?? [])];
}

/** `flo help` (the general help) and `flo help <command>` (as `flo <command> --help`). */
async function help(words: readonly string[], io: Pick<CommandContext, 'stdout' | 'stderr'>): Promise<number> {
  const word = words.find((w) => !w.startsWith('-'));
  if (word === undefined || word === 'help') {
    io.stdout.write(globalHelp());
    return 0;
  }
  if (word === 'version') {
    io.stdout.write('Usage: flo version\n\nPrints the version of flo (as flo --version).\n');
    return 0;
  }
  const entry = commands.find((c) => c.name === word);
  if (!entry) {
    io.stderr.write(`flo: ${unknownWordError(word, commandWords()).message}\nRun \`flo --help\` for usage (and \`flo --list\` for the deployfile's tasks).\n`);
    return 2;
  }
  const mod = (await entry.load()).command;
  io.stdout.write(commandHelp(entry, mod, commandSpecs(entry, mod)));
  return 0;
}

/** The store hint for `message`, after a full stop. */
function hinted(message: string): string {
  const hint = storeErrorHint(message);
  return hint === '' || /[.!?]$/.test(message) ? hint : `.${hint}`;
}

/**
 * True for the packages' errors that mean a bad command line (exit 2): deploy's invocation
 * errors (no host matched, an unknown host, a task's arguments) and cluster's bad store URL.
 */
function isUsageFailure(e: unknown): boolean {
  return e instanceof UsageError || isInvocationError(e) || (typeof e === 'object' && e !== null && (e as { code?: unknown }).code === STORE_URL_INVALID);
}
// cluster's code for a malformed --store URL (the type keeps it one of cluster's codes; cluster
// itself is loaded only by the commands that use it)
const STORE_URL_INVALID = 'store-url-invalid' satisfies ClusterErrorCode;

/** Runs `flo` with these arguments; resolves to the exit code. */
export async function main(argv: readonly string[], io: Pick<CommandContext, 'stdout' | 'stderr' | 'stdin' | 'env' | 'cwd'>): Promise<number> {
  if (argv[0] === '__complete') {
    // the hidden entry of the completion scripts (cli/complete.ts)
    const { completionCandidates } = await import('./cli/complete.js');
    const words = argv.slice(1);
    const candidates = await completionCandidates(words.length > 0 ? words : [''], { commands, builtinWords, globalSpecs: [...basicOptions, ...taskOptions, ...deployOptions], specsOf: commandSpecs }, io);
    io.stdout.write(candidates.map((c) => `${c}\n`).join(''));
    return 0;
  }
  const dd = argv.indexOf('--');
  const head = dd >= 0 ? argv.slice(0, dd) : argv;
  if (head.includes('--version')) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const scanSpecs = [...basicOptions, ...taskOptions, ...deployOptions];
  const first = firstPositional(argv, scanSpecs);
  if (first?.value === 'version') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first?.value === 'help') return help(argv.slice(first.index + 1), io);
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
  const specs = commandSpecs(entry, mod);
  const stderrWrite = (m: string): void => void io.stderr.write(m);
  let verbose = isVerbose({ options: {}, positionals: [] }, io.env);
  try {
    const args = parseArgs(rest, specs);
    verbose = isVerbose(args, io.env);
    if (args.options.help) {
      io.stdout.write(entry === taskCommand ? globalHelp() : commandHelp(entry, mod, specs));
      return 0;
    }
    if (mod.formats !== undefined) outputFormat({ args }, mod.formats);
    return await mod.run({ ...io, args, reserved: [...commands.map((c) => c.name), taskCommand.name, 'help', 'version', 'list'] });
  } catch (e) {
    const err = e as Error;
    if (isUsageFailure(e)) {
      stderrWrite(`flo: ${err.message}\nRun \`flo ${entry === taskCommand ? '' : `${entry.name} `}--help\` for usage.\n`);
      return 2;
    }
    stderrWrite(`flo: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}${hinted(err.message)}\n`);
    if (verbose) stderrWrite(`${err.stack ?? ''}\n`);
    return 1;
  }
}

