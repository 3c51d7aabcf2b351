/**
 * `flo lowest-loadaverage`: asks every selected host for its 1-minute load and cores and prints
 * the hosts by load per core, lowest first (the talk's first placement).
 */
import { UsageError } from '../cli/args.js';
import { deploySetup, listHostsIfAsked } from '../cli/deploy-context.js';
import type { CommandModule } from '../cli/registry.js';
import { outputFormat, printOutput, type OutputFormat } from '../output/format.js';
import { formatTable } from '../output/table.js';

const formats: readonly OutputFormat[] = ['text', 'wide', 'json', 'yaml'];

export const command: CommandModule = {
  usage: 'lowest-loadaverage [-H h1,h2 | -R role | -l selector] [-o wide|json|yaml]',
  formats,
  description:
    'Asks every selected host (default: every inventory host) for its 1-minute load average and cores, in parallel, and prints one host per line ordered by load per core, lowest first, with no header. -o wide adds load1, cores and load per core; -o json prints [{"host","load1","cores","loadPerCore"}] (-o yaml the same list). Hosts that do not answer are reported on stderr and make the exit code 1.',
  async run(ctx) {
    const format = outputFormat(ctx, formats);
    if (ctx.args.positionals.length) throw new UsageError(`lowest-loadaverage takes no arguments (got ${ctx.args.positionals.join(' ')})`);
    const s = await deploySetup(ctx, format);
    const refs = s.hosts({ allIfEmpty: true });
    const listed = await listHostsIfAsked(ctx, s, [{ names: refs.map((r) => r.name) }]);
    if (listed !== undefined) return listed;
    if (refs.length === 0) throw new UsageError('no hosts: the inventory is empty and none were selected');
    try {
      const pool = s.pool(refs.length);
      const result = await s.deploy.runOnHosts(
        refs.map((r) => r.name),
        (_h, i) => (pool ? pool.facts(refs[i]!, 'load') : s.deploy.gatherFacts(s.connect(refs[i]!), { only: 'load' })),
        { ...s.group, maxFail: refs.length, onHostDone: () => undefined },
      );
      const ranked = s.deploy.orderByLoad(result.hosts.filter((h) => h.status === 'ok').map((h) => h.value!));
      for (const f of result.failed) ctx.stderr.write(`flo: ${f.host}: ${f.status}: ${f.error?.message ?? ''}\n`);
      await printOutput(ctx, format, {
        json: () => ranked.map((r) => ({ host: r.host, load1: r.load1, cores: r.cores, loadPerCore: r.loadPerCore })),
        text: (wide) =>
          void ctx.stdout.write(wide ? formatTable(ranked.map((r) => [r.host, r.load1.toFixed(2), String(r.cores), r.loadPerCore.toFixed(3)])) : ranked.map((r) => `${r.host}\n`).join('')),
      });
      return result.failed.length ? 1 : 0;
    } finally {
      await s.close();
    }
  },
};
