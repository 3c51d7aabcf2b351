/**
 * `flo hosts [-H …|-R ROLE|-l SELECTOR] [-i hosts.yaml]`: the inventory hosts a selection
 * matches, without connecting to any (Ansible's `ansible PATTERN --list-hosts`, with the
 * address and labels). No selection lists the whole inventory.
 */
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';
import type { HostRef } from '@flotilla/deploy';
import { noHeadersOption, outputFormat, printOutput, printTable } from '../output/format.js';

const formats = ['text', 'json', 'yaml'] as const;

export const command: CommandModule = {
  usage: 'hosts [-H h1,h2 | -R role | -l selector] [-i hosts.yaml] [-o json|yaml]',
  formats,
  options: [noHeadersOption],
  description:
    'Lists the hosts a selection matches — inventory names, -R roles, -l label selectors (e.g. -l \'zone in (a,b),!canary\') — with their address and labels, and connects to none: check a selection before running anything on it. No selection lists every inventory host. A -H name that is no inventory host is listed with the address it stands for. The task commands take --list-hosts for the same check.',
  async run(ctx) {
    const format = outputFormat(ctx, formats);
    if (ctx.args.positionals.length > 0) throw new UsageError(`hosts takes no arguments (got ${ctx.args.positionals.join(' ')}); select with -H, -R or -l`);
    const deploy = await import('@flotilla/deploy');
    const o = ctx.args.options;
    const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
    const selection = { hosts: list(o.hosts), roles: list(o.roles), ...(typeof o.selector === 'string' ? { selector: o.selector } : {}) };
    const invFile = typeof o.inventory === 'string' ? o.inventory : 'hosts.yaml';
    const inventory = deploy.loadInventory(resolve(ctx.cwd, invFile), { required: typeof o.inventory === 'string' });
    let refs: HostRef[];
    try {
      refs = deploy.isEmptySelection(selection) ? inventory.map((h) => ({ name: h.name, inventory: h })) : deploy.selectHosts(inventory, selection);
    } catch (e) {
      throw new UsageError(`${typeof o.selector === 'string' ? '-l: ' : ''}${(e as Error).message}`);
    }
    const rows = refs.map((r) => {
      const h = r.inventory;
      const address = h?.local ? `local:${h.local.dir}` : h ? `${h.user ? `${h.user}@` : ''}${h.address ?? ''}${h.port ? `:${h.port}` : ''}` : (r.destination ?? r.name);
      return { name: r.name, address, labels: h?.labels ?? {}, inInventory: h !== undefined };
    });
    await printOutput(ctx, format, {
      json: () => ({ items: rows }),
      text: () => {
        if (rows.length === 0) {
          ctx.stderr.write(`No hosts matched${deploy.isEmptySelection(selection) ? ` (${invFile} lists none)` : ''}.\n`);
          return;
        }
        printTable(ctx, {
          header: ['NAME', 'ADDRESS', 'LABELS'],
          rows: rows.map((r) => [r.name, r.address, r.inInventory ? Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' : '(not in the inventory)']),
        });
      },
    });
    return 0;
  },
};
