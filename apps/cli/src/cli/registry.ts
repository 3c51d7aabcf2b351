/**
 * The command registry. A command is a module exporting `command: CommandModule`; it is
 * registered with one line in `commands/index.ts` and loaded only when it runs (or shows its
 * help), so heavy modules never load for `flo --version`.
 */
import type { OptionSpec, ParsedArgs } from './args.js';
import type { OutputFormat } from '../output/format.js';

/** What a command gets. */
export interface CommandContext {
  args: ParsedArgs;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The command names that deployfile tasks may not use. */
  reserved: readonly string[];
}

/** A command's implementation. */
export interface CommandModule {
  /** Usage line(s) after `flo`. */
  usage: string;
  /** Longer description for `--help`. */
  description?: string;
  /** Options besides the global ones. */
  options?: readonly OptionSpec[];
  /**
   * The `-o` formats the command prints, the default first (`output/format.ts`). `flo` checks
   * `-o` against them before `run` (exit 2 naming them) and shows them in `--help`.
   * @default undefined (the command checks `-o` itself)
   */
  formats?: readonly OutputFormat[];
  /** The subcommands (`kv get`, `image build`, …), for shell completion. */
  subcommands?: readonly string[];
  /** Whether the deploy options (-H, -R, -l, --parallel, …) apply. @default true */
  deployOptions?: boolean;
  /** Runs; resolves to the exit code (0 ok, 1 failed, 2 usage). */
  run(ctx: CommandContext): Promise<number>;
}

/** A registered command: name, one-line summary, and a loader. */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<{ command: CommandModule }>;
}
