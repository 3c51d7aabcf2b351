import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { clusterOptions, timeoutOption, listOption, openCluster, parseRef, progressPrinter, secondsOption } from '../cli/cluster-context.js';
import type { CommandModule } from '../cli/registry.js';

export const command: CommandModule = {
  usage: 'delete -f FILE… | delete <kind>/<name> [--no-wait] [--store URL]',
  description:
    "Deletes objects. A replica set's instances are stopped on their hosts: delete runs the controllers in this process until they are gone (or waits for a running `flo controller`), unless --no-wait.",
  deployOptions: false,
  options: [
    { name: 'filename', short: 'f', type: 'string', multiple: true, value: 'FILE', description: 'delete the objects of these manifests' },
    { name: 'no-wait', type: 'boolean', description: 'return without waiting for instances to stop' },
    timeoutOption,
    ...clusterOptions,
  ],
  async run(ctx) {
    const files = listOption(ctx, 'filename');
    const s = await openCluster(ctx);
    try {
      const targets: { kind: 'Host' | 'ReplicaSet' | 'Service' | 'Instance'; name: string }[] = [];
      if (files.length > 0) {
        if (ctx.args.positionals.length > 0) throw new UsageError('give either -f FILE or <kind>/<name>, not both');
        const sources = await Promise.all(files.map(async (f) => ({ file: f, text: await readFile(resolve(ctx.cwd, f), 'utf8') })));
        const objects = s.cluster.loadManifests(sources);
        const order = { Service: 0, ReplicaSet: 1, Host: 2 } as const;
        for (const o of [...objects].sort((a, b) => order[a.kind] - order[b.kind])) targets.push({ kind: o.kind, name: o.metadata.name });
      } else {
        const ref = parseRef(ctx.args.positionals, ['Host', 'ReplicaSet', 'Service', 'Instance']);
        targets.push(ref as (typeof targets)[number]);
      }
      let missing = 0;
      for (const t of targets) {
        const ok = await s.cluster.deleteObject(s.store, t.kind, t.name);
        if (ok) ctx.stdout.write(`${t.kind.toLowerCase()}/${t.name} deleted\n`);
        else {
          ctx.stderr.write(`flo: ${t.kind.toLowerCase()}/${t.name} not found\n`);
          missing++;
        }
      }
      const sets = targets.filter((t) => t.kind === 'ReplicaSet' || t.kind === 'Instance');
      if (sets.length > 0 && ctx.args.options['no-wait'] !== true) {
        const names = targets.filter((t) => t.kind === 'ReplicaSet').map((t) => t.name);
        await s.cluster.converge({
          store: s.store,
          runtime: s.runtime(),
          ...(names.length === sets.length ? { names } : {}),
          timeoutMs: secondsOption(ctx, 'timeout', 300_000),
          onProgress: progressPrinter(ctx),
        });
      }
      return missing > 0 ? 1 : 0;
    } finally {
      await s.close();
    }
  },
};
