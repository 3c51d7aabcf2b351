/**
 * `flo download`: copies a remote file from the selected hosts (with several, into a directory,
 * one file per host).
 */
import { mkdir } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { runOnSelectedHosts, summaryFormats } from '../cli/deploy-context.js';
import { isDocumentFormat, outputFormat } from '../output/format.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'download -H h1[,h2] [options] <remote> <local>',
  formats: summaryFormats,
  description: 'Downloads a file. With one host, <local> is the file written; with several, <local> is a directory and each host\'s copy goes to <local>/<host>/<name>.',
  async run(ctx) {
    const format = outputFormat(ctx, summaryFormats);
    const [remote, local, ...extra] = ctx.args.positionals;
    if (!remote || !local || extra.length) throw new UsageError('download: expected <remote> <local>');
    return runOnSelectedHosts(ctx, format, (s, refs) => async (ref) => {
      let dest = resolve(ctx.cwd, local);
      if (refs.length > 1) {
        await mkdir(join(dest, ref.name), { recursive: true });
        dest = join(dest, ref.name, posix.basename(remote));
      }
      await s.connect(ref).get(remote, dest);
      if (!isDocumentFormat(format)) s.hostLine(ref.name, `downloaded ${remote} to ${dest}`, 'stdout');
      return dest;
    });
  },
};
