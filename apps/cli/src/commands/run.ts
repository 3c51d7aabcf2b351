/**
 * `flo run`: runs a sh command line on every selected host (`--sudo`: with sudo), output
 * prefixed by host, a per-host summary at the end.
 */
import { UsageError } from '../cli/args.js';
import { runOnSelectedHosts, summaryFormats } from '../cli/deploy-context.js';
import { outputFormat } from '../output/format.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: "run -H h1,h2 [options] '<command>'",
  formats: summaryFormats,
  description: 'Runs a sh command line on every selected host. Output lines are prefixed with the host; a per-host summary follows on stderr (or as JSON on stdout with -o json).',
  options: [{ name: 'sudo', type: 'boolean', description: 'run the command with sudo (the password is asked once, when needed)' }],
  async run(ctx) {
    const format = outputFormat(ctx, summaryFormats);
    const cmd = ctx.args.positionals.join(' ');
    if (cmd.trim() === '') throw new UsageError('run: no command given');
    return runOnSelectedHosts(ctx, format, (s) => (ref) => {
      const c = s.connect(ref);
      return ctx.args.options.sudo ? c.sudo(cmd) : c.run(cmd);
    });
  },
};
