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
  usage: 'demo [--ssh] [--containers] [--network] [--keep] [--ui [--listen HOST:PORT] [--token-file FILE]]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    'Everything on a throwaway fleet: applies a sample app (a tiny HTTP server) with replicas: 5, shows the placement, kills an instance and shows the controller healing it, scales to 8, serves the app through the service endpoints, and cleans up. Hosts are local directories (the local transport); --ssh uses real loopback sshd hosts instead (needs root, to create users and start sshd). --containers runs the app as a container: an OCI image built on the spot from busybox-static (httpd and a CGI page), run by runc on each host — rootful on local hosts when flo runs as root (memory limits in cgroups), rootless on the --ssh fleet\'s users (isolated, limits not enforced, as the LIMITS column says). --network (root) tells the networking story instead, on 2 hosts that are each a network namespace with its own sshd: a Network (a pod subnet per host, service virtual IPs, DNS), the sample app as containers labelled env=prod/env=test and version=1, the talk\'s services example.com (env=prod,app=web) and beta.example.com (env=test,app=web OR env=prod,app=web) requested by name from inside a container, then web-prod flipped from version=1 to version=2 behind example.com.',
  deployOptions: false,
  options: [
    { name: 'ssh', type: 'boolean', description: 'use a fleet of loopback sshd hosts (needs root)' },
    { name: 'containers', type: 'boolean', description: 'run the app as an OCI container image (needs runc, busybox-static and node on the hosts)' },
    { name: 'network', type: 'boolean', description: 'the networking story: pod subnets, service VIPs and DNS names on network-namespace hosts (needs root, runc, busybox-static, nft or iptables, the CNI plugins)' },
    { name: 'keep', type: 'boolean', description: 'keep the demo directory (store, hosts, logs) afterwards' },
    { name: 'ui', type: 'boolean', description: 'after the story, serve the dashboard (flo ui) on the live demo cluster until Ctrl-C, then clean up' },
    { name: 'listen', type: 'string', value: 'HOST:PORT', description: 'with --ui: where to serve it (default 127.0.0.1:8080; port 0 picks a free one)' },
    { name: 'token-file', type: 'string', value: 'FILE', description: 'with --ui: the token actions need (as flo ui --token-file)' },
  ],
  async run(ctx) {
    if (ctx.args.options.network === true) {
      if (ctx.args.options.ssh === true || ctx.args.options.containers === true || ctx.args.options.ui === true) throw new UsageError('--network tells a story of its own: it does not combine with --ssh, --containers or --ui');
      const missing = networkDemoMissing(await networkDemoFacts());
      if (missing.length > 0) {
        ctx.stderr.write(`flo demo --network cannot run here:\n${missing.map((m) => `  - ${m}`).join('\n')}\n(or run \`flo demo\` without --network)\n`);
        return 1;
      }
    }
    const ui = ctx.args.options.ui === true ? await dashboardHook(ctx) : undefined;
    const [cluster, demo] = await Promise.all([import('@flotilla/cluster'), import('@flotilla/cluster/demo')]);
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-demo-'));
    const log = (line: string): void => void ctx.stdout.write(`${line}\n`);
    let fleet: { stop(): Promise<void>; sshConfigFile: string; hosts: { name: string }[] } | undefined;
    let runtime: InstanceType<typeof cluster.DeployRuntime> | undefined;
    try {
      if (ctx.args.options.network === true) {
        const { startFleet } = await import('@flotilla/deploy/testing');
        ctx.stderr.write('starting 2 network-namespace hosts…\n');
        const netFleet = await startFleet({ size: 2, subnet: 99, userPrefix: 'flodemonet', namePrefix: 'net', netns: true, sudo: 'nopasswd' });
        fleet = netFleet;
        const hosts: Parameters<typeof demo.runNetworkDemo>[0]['hosts'] = netFleet.hosts.map((h) => ({
          apiVersion: cluster.API_VERSION,
          kind: 'Host' as const,
          metadata: { name: h.name },
          spec: { address: h.name, capacity: { cpu: 2, memory: '2Gi' } },
        }));
        runtime = new cluster.DeployRuntime({ sshConfigFiles: [netFleet.sshConfigFile] });
        await demo.runNetworkDemo({ dir, runtime, hosts, log });
        return 0;
      }
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

/** What `flo demo --network` needs of this machine, as found (see {@link networkDemoFacts}). */
export interface NetworkDemoFacts {
  /** flo runs as root (uid 0): it makes network namespaces, users and sshd servers. */
  root: boolean;
  /** As root: what the network-namespace fleet still lacks (sshd, useradd, ip, nsenter, …, with its fix), if anything. */
  fleetProblem?: string;
  /** runc or crun is installed. */
  containerRuntime: boolean;
  /** A static busybox at /bin/busybox (the sample image is built from it). */
  busybox: boolean;
  /** nft or iptables is installed. */
  firewall: boolean;
  /** The CNI plugins the demo's pods need that are not in /usr/lib/cni. */
  cniPluginsMissing: string[];
}

/**
 * What keeps `flo demo --network` from running, each with its fix (pure): everything at once, so
 * one run says all there is to install; empty when it can run.
 */
export function networkDemoMissing(f: NetworkDemoFacts): string[] {
  const out: string[] = [];
  if (!f.root) out.push('root: it makes network namespaces, users and sshd servers (run it as root, e.g. sudo flo demo --network)');
  else if (f.fleetProblem !== undefined) out.push(f.fleetProblem);
  if (!f.containerRuntime) out.push('runc or crun (apt-get install -y runc)');
  if (!f.busybox) out.push('a static busybox at /bin/busybox for the sample image (apt-get install -y busybox-static)');
  if (!f.firewall) out.push('nft or iptables (apt-get install -y nftables)');
  if (f.cniPluginsMissing.length > 0) out.push(`the CNI plugins ${f.cniPluginsMissing.join(', ')} in /usr/lib/cni (apt-get install -y containernetworking-plugins)`);
  return out;
}

/** Finds the {@link NetworkDemoFacts} of this machine (nothing is changed). */
async function networkDemoFacts(): Promise<NetworkDemoFacts> {
  const { fleetAvailability } = await import('@flotilla/deploy/testing');
  const { execFileSync } = await import('node:child_process');
  const has = (tool: string): boolean => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool} || [ -x /usr/sbin/${tool} ] || [ -x /sbin/${tool} ]`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const root = process.getuid?.() === 0;
  const fleet = root ? fleetAvailability({ netns: true }) : undefined;
  return {
    root,
    ...(fleet && !fleet.ok ? { fleetProblem: fleet.reason } : {}),
    containerRuntime: has('runc') || has('crun'),
    busybox: existsSync('/bin/busybox'),
    firewall: has('nft') || has('iptables'),
    cniPluginsMissing: ['bridge', 'host-local', 'portmap'].filter((p) => !existsSync(`/usr/lib/cni/${p}`)),
  };
}

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
