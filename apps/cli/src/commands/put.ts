/**
 * `flo put`: uploads a local file to the selected hosts (temporary name, then renamed over the
 * target; skipped where the remote sha256 already matches).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { runOnSelectedHosts, summaryFormats } from '../cli/deploy-context.js';
import { isDocumentFormat, outputFormat } from '../output/format.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'put -H h1,h2 [options] <local> <remote>',
  formats: summaryFormats,
  description:
    'Uploads a file to every selected host: written to a temporary name, mode set, then renamed over the target; skipped where the remote sha256 already matches. A remote path ending in / is a directory.',
  options: [{ name: 'mode', type: 'string', value: 'OCTAL', description: 'file mode on the host (default: the local mode)' }],
  async run(ctx) {
    const format = outputFormat(ctx, summaryFormats);
    const [local, remote, ...extra] = ctx.args.positionals;
    if (!local || !remote || extra.length) throw new UsageError('put: expected <local> <remote>');
    const modeText = ctx.args.options.mode;
    if (modeText !== undefined && !/^[0-7]{3,4}$/.test(String(modeText))) throw new UsageError(`--mode ${String(modeText)}: expected an octal mode like 644`);
    return runOnSelectedHosts(ctx, format, async (s, refs) => {
      const { size } = await stat(resolve(ctx.cwd, local));
      const sent = new Map<string, number>();
      const onProgress = (host: string, bytes: number): void => {
        sent.set(host, bytes);
        let sum = 0;
        for (const v of sent.values()) sum += v;
        s.progress.bytes(sum, size * refs.length);
      };
      return async (ref) => {
        const r = await s.connect(ref).put(resolve(ctx.cwd, local), remote, {
          ...(modeText === undefined ? {} : { mode: parseInt(String(modeText), 8) }),
          onProgress: (b) => onProgress(ref.name, b),
        });
        if (!isDocumentFormat(format)) s.hostLine(ref.name, `${r.skipped ? 'unchanged' : 'uploaded'} ${r.remotePath} (sha256 ${r.sha256.slice(0, 12)})`, 'stdout');
        return r;
      };
    });
  },
};
