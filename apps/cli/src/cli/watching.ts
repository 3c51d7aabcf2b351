/**
 * What `flo get -w` and `flo events -w` share: stopping on Ctrl-C (exit 0, as kubectl),
 * saying on stderr when the store's watch was lost and is being listed again, and a table
 * whose rows arrive one at a time (aligned with the first rows, as kubectl's watch output is).
 */
import type { WatchRestartReason } from '@flotilla/reconcile';
import type { CommandContext } from './registry.js';
import type { OptionSpec } from './args.js';

/** `-w/--watch` and `--watch-only`. */
export const watchOptions: readonly OptionSpec[] = [
  { name: 'watch', short: 'w', type: 'boolean', description: 'after the list, print each change as it happens, until Ctrl-C' },
  { name: 'watch-only', type: 'boolean', description: 'print the changes only, not the list first (implies -w)' },
];

/** `-w` given (or `--watch-only`)? And whether the list is printed first. */
export function watchMode(ctx: Pick<CommandContext, 'args'>): { watch: boolean; listFirst: boolean } {
  const only = ctx.args.options['watch-only'] === true;
  return { watch: only || ctx.args.options.watch === true, listFirst: !only };
}

/** An AbortSignal that SIGINT or SIGTERM aborts; `dispose()` removes the handlers and aborts it (ending what it was given to). */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: ac.signal,
    dispose() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      ac.abort();
    },
  };
}

/**
 * Notices of a watch that was lost: one line when it happens (`flo: watch lost (why);
 * listing the store again until it answers`, or `watching again from the last change seen`
 * for a watch that went silent or ended), then nothing until a change came through again.
 */
export function restartNotices(ctx: Pick<CommandContext, 'stderr'>): { restarted(reason: WatchRestartReason, error?: unknown): void; changed(): void } {
  let outage = false;
  return {
    restarted(reason, error) {
      if (outage) return;
      outage = true;
      const why = error instanceof Error ? `${reason}: ${error.message}` : reason;
      const next = reason === 'stalled' || reason === 'ended' ? 'watching again from the last change seen' : 'listing the store again until it answers';
      ctx.stderr.write(`flo: watch lost (${why}); ${next} (Ctrl-C to stop)\n`);
    },
    changed() {
      outage = false;
    },
  };
}

/**
 * A table printed row by row: each column as wide as the widest cell printed so far in it
 * (the header included), so rows that follow the first list stay aligned with it.
 */
export class StreamTable {
  readonly #widths: number[] = [];
  readonly #out: Pick<CommandContext, 'stdout'>['stdout'];
  #header: readonly string[] | undefined;

  /** `header`: printed before the first row, unless `undefined` (`--no-headers`). */
  constructor(ctx: Pick<CommandContext, 'stdout'>, header: readonly string[] | undefined) {
    this.#out = ctx.stdout;
    this.#header = header;
  }

  /** Prints rows (and the header before the first): widths grow to fit these rows. */
  print(rows: readonly (readonly string[])[]): void {
    if (rows.length === 0) return;
    const all = this.#header !== undefined ? [this.#header, ...rows] : rows;
    for (const r of all) r.forEach((c, i) => (this.#widths[i] = Math.max(this.#widths[i] ?? 0, c.length)));
    this.#header = undefined;
    this.#out.write(all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(this.#widths[i]!))).join('  ')).join('\n') + '\n');
  }
}
