/**
 * `flo download`: copies a remote file from the selected hosts (with several, into a directory,
 * one file per host).
 */
import { mkdir } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { deploySetup, finishRun, listHostsIfAsked, summaryFormats } from '../cli/deploy-context.js';
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
    const s = await deploySetup(ctx, format);
    const refs = s.hosts();
    const listed = await listHostsIfAsked(ctx, s, [{ names: refs.map((r) => r.name) }]);
    if (listed !== undefined) return listed;
    try {
      s.progress.start(refs.length);
      const result = await s.deploy.runOnHosts(
        refs.map((r) => r.name),
        async (_h, i) => {
          const ref = refs[i]!;
          let dest = resolve(ctx.cwd, local);
          if (refs.length > 1) {
            await mkdir(join(dest, ref.name), { recursive: true });
            dest = join(dest, ref.name, posix.basename(remote));
          }
          await s.connect(ref).get(remote, dest);
          if (!isDocumentFormat(format)) s.hostLine(ref.name, `downloaded ${remote} to ${dest}`, 'stdout');
          return dest;
        },
        s.group,
      );
      return await finishRun(ctx, s, [result]);
    } finally {
      await s.close();
    }
  },
};
