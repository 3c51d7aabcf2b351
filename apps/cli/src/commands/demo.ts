/**
 * `flo demo`: a throwaway fleet (local directories, or sshd hosts with --ssh), five replicas,
 * a kill healed, a scale to eight.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../cli/args.js';
import { stringOption } from '../cli/cluster-context.js';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import type { DemoOptions } from '@flotilla/cluster/demo';

export const command: CommandModule = {
  usage: 'demo [--ssh] [--containers] [--keep] [--ui [--listen HOST:PORT] [--token-file FILE]]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    'Everything on a throwaway fleet: applies a sample app (a tiny HTTP server) with replicas: 5, shows the placement, kills an instance and shows the controller healing it, scales to 8, serves the app through the service endpoints, and cleans up. Hosts are local directories (the local transport); --ssh uses real loopback sshd hosts instead (needs root, to create users and start sshd). --containers runs the app as a container: an OCI image built on the spot from busybox-static (httpd and a CGI page), run by runc on each host — rootful on local hosts when flo runs as root (memory limits in cgroups), rootless on the --ssh fleet\'s users (isolated, limits not enforced, as the LIMITS column says).',
  deployOptions: false,
  options: [
    { name: 'ssh', type: 'boolean', description: 'use a fleet of loopback sshd hosts (needs root)' },
    { name: 'containers', type: 'boolean', description: 'run the app as an OCI container image (needs runc, busybox-static and node on the hosts)' },
    { name: 'keep', type: 'boolean', description: 'keep the demo directory (store, hosts, logs) afterwards' },
    { name: 'ui', type: 'boolean', description: 'after the story, serve the dashboard (flo ui) on the live demo cluster until Ctrl-C, then clean up' },
    { name: 'listen', type: 'string', value: 'HOST:PORT', description: 'with --ui: where to serve it (default 127.0.0.1:8080; port 0 picks a free one)' },
    { name: 'token-file', type: 'string', value: 'FILE', description: 'with --ui: the token actions need (as flo ui --token-file)' },
  ],
  async run(ctx) {
    const ui = ctx.args.options.ui === true ? await dashboardHook(ctx) : undefined;
    const [cluster, demo] = await Promise.all([import('@flotilla/cluster'), import('@flotilla/cluster/demo')]);
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-demo-'));
    const log = (line: string): void => void ctx.stdout.write(`${line}\n`);
    let fleet: { stop(): Promise<void>; sshConfigFile: string; hosts: { name: string }[] } | undefined;
    let runtime: InstanceType<typeof cluster.DeployRuntime> | undefined;
    try {
      let hosts: ReturnType<typeof demo.localDemoHosts> | undefined;
      if (ctx.args.options.ssh === true) {
        const { fleetAvailability, startFleet } = await import('@flotilla/deploy/testing');
        const can = fleetAvailability();
        if (!can.ok) {
          ctx.stderr.write(`flo demo --ssh: ${can.reason}\n(run it as root, or run \`flo demo\` without --ssh for local hosts)\n`);
          return 1;
        }
        ctx.stderr.write('starting 6 loopback sshd hosts…\n');
        fleet = await startFleet({ size: 6, subnet: 77, userPrefix: 'flodemo', namePrefix: 'h' });
        hosts = fleet.hosts.map((h, i) => ({
          apiVersion: cluster.API_VERSION,
          kind: 'Host' as const,
          metadata: { name: h.name, labels: { zone: i % 2 === 0 ? 'a' : 'b', ...(i === 0 ? { role: 'lb' } : {}) } },
          spec: { address: h.name, capacity: { cpu: 2, memory: '2Gi' } },
        }));
        runtime = new cluster.DeployRuntime({ sshConfigFiles: [fleet.sshConfigFile] });
      } else runtime = new cluster.DeployRuntime();
      await demo.runDemo({ dir, runtime, log, ...(hosts ? { hosts } : {}), ...(ctx.args.options.containers === true ? { containers: true } : {}), ...(ui ? { beforeCleanup: ui } : {}) });
      return 0;
    } finally {
      await runtime?.close();
      await fleet?.stop();
      if (ctx.args.options.keep === true) ctx.stderr.write(`demo directory kept: ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    }
  },
};

/**
 * `--ui`: checks the flags before the story starts, then (after it) serves the dashboard on the
 * demo's live store — controllers running — until SIGINT/SIGTERM.
 */
async function dashboardHook(ctx: CommandContext): Promise<NonNullable<DemoOptions['beforeCleanup']>> {
  const { checkListen, checkToken } = await import('../ui/access.js');
  const { uiAssetsDir, version } = await import('./ui.js');
  const listen = stringOption(ctx, 'listen') ?? '127.0.0.1:8080';
  const tokenFile = stringOption(ctx, 'token-file');
  let token: string | undefined;
  try {
    if (tokenFile !== undefined) token = checkToken(readFileSync(resolve(ctx.cwd, tokenFile), 'utf8'), tokenFile);
    checkListen(listen, token !== undefined);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const assetsDir = uiAssetsDir(ctx.env);
  if (!existsSync(join(assetsDir, 'index.html'))) throw new UsageError(`--ui: the dashboard's files are missing (${assetsDir}/index.html): build them with \`npx nx run flotilla:build\``);
  return async ({ store, storeUrl, runtime }) => {
    const cluster = await import('@flotilla/cluster');
    const { startDashboard } = await import('../ui/dashboard.js');
    const { loggerFor } = await import('../observability/log.js');
    const dashboard = await startDashboard({
      cluster,
      store,
      runtime: () => runtime,
      listen,
      ...(token !== undefined ? { token } : {}),
      assetsDir,
      log: loggerFor(ctx, 'flo demo --ui'),
      storeLabel: storeUrl,
      version: version(),
    });
    const out = (line: string): void => void ctx.stdout.write(`${line}\n`);
    out(`   Dashboard: ${dashboard.url}/  (the live demo cluster; store ${storeUrl})`);
    out(`   Try: kill an instance, scale from the page, or in another shell: flo get instances --store ${storeUrl}`);
    out('   Press Ctrl-C to clean up and exit.');
    await new Promise<void>((done) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await dashboard.close();
  };
}
