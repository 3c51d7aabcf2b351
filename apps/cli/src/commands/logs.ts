/**
 * `flo logs instance/NAME`: an instance's output from its host (`-f` follows).
 */
import { clusterOptions, openCluster, parseRef } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'logs instance/NAME [-f] [--store URL]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description: "Prints an instance's output (its log file on its host); -f keeps following it until interrupted.",
  deployOptions: false,
  options: [{ name: 'follow', short: 'f', type: 'boolean', description: 'keep printing new output' }, ...clusterOptions],
  async run(ctx) {
    const { name } = parseRef(ctx.args.positionals, ['Instance']);
    const s = await openCluster(ctx, { readOnly: true });
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const instance = await s.store.instances.get(name);
      if (!instance) {
        ctx.stderr.write(`flo: instance/${name} not found\n`);
        return 1;
      }
      const host = await s.store.hosts.get(instance.spec.host);
      if (!host) {
        ctx.stderr.write(`flo: host ${instance.spec.host} of instance/${name} not found\n`);
        return 1;
      }
      for await (const chunk of s.runtime().logs(host, instance, { follow: ctx.args.options.follow === true, signal: abort.signal })) ctx.stdout.write(chunk);
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await s.close();
    }
  },
};
