/**
 * `flo controller`: runs the cluster's controllers in the foreground, under a leader lease in
 * the store.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { clusterOptions, listOption, openCluster, secondsOption, stringOption } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';

/**
 * `--identity` names an ssh key file in every command. `flo controller --identity ID` used to
 * name the leader-election identity (now `--leader-identity`): a value that is no file is still
 * taken as that, with a warning, and removed from the key files.
 */
function deprecatedLeaderIdentity(ctx: CommandContext): string | undefined {
  const values = listOption(ctx, 'identity');
  const old = values.filter((v) => !existsSync(path.resolve(ctx.cwd, v)));
  if (old.length === 0) return undefined;
  ctx.stderr.write(`flo: warning: --identity ${old.at(-1)} is not a file: taken as the leader-election identity, as before; that use of --identity is deprecated (--identity names an ssh key file, as everywhere else): use --leader-identity ${old.at(-1)}\n`);
  const keys = values.filter((v) => !old.includes(v));
  ctx.args.options.identity = keys.length > 0 ? keys : undefined;
  return old.at(-1);
}

export const command: CommandModule = {
  usage: 'controller [--leader-identity ID] [--store URL] [--ssh-config FILE] [--identity KEY_FILE]',
  description:
    'Runs the reconcile loop continuously: keeps replica sets at their replicas, heals instances, reschedules off hosts that stop answering, renders services. Several can run against one store; one leads (leader lease), the others wait. Stops on SIGINT/SIGTERM (releasing the lease); instances keep running.',
  deployOptions: false,
  options: [
    { name: 'leader-identity', type: 'string', value: 'ID', description: 'this controller\'s name in the leader election (default hostname-pid; was --identity ID)' },
    { name: 'probe-interval', type: 'string', value: 'SECONDS', description: 'how often hosts are probed and instances observed (default 2)' },
    { name: 'host-grace', type: 'string', value: 'SECONDS', description: 'how long a host may not answer before it is NotReady (default 10)' },
    ...clusterOptions,
  ],
  async run(ctx) {
    const leader = deprecatedLeaderIdentity(ctx);
    const s = await openCluster(ctx);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const identity = stringOption(ctx, 'leader-identity') ?? leader ?? `${hostname()}-${process.pid}`;
    try {
      const controllers = new s.cluster.ClusterControllers({
        store: s.store,
        runtime: s.runtime(),
        hostProbeIntervalMs: secondsOption(ctx, 'probe-interval', 2000),
        hostGracePeriodMs: secondsOption(ctx, 'host-grace', 10_000),
      });
      ctx.stderr.write(`flo controller ${identity}: waiting for the leader lease\n`);
      await controllers.runWithLeaderElection({
        identity,
        signal: abort.signal,
        onLeading: (leading) => void ctx.stderr.write(`flo controller ${identity}: ${leading ? 'leading' : 'stopped leading'}\n`),
      });
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await s.close();
    }
  },
};
