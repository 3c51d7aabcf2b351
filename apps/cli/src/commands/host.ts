/**
 * `flo host join NAME` / `flo host leave NAME`: turn an ssh host into an agent host and back
 * (DESIGN.md, Host agents and scale: "machine configuration · get into the cluster").
 *
 * join, over ssh: checks Node >= 20 on the host; installs the agent (dist/agent: the CLI in one
 * file) as a release of app `flo-agent` (content-addressed, `current` switched atomically,
 * older releases kept for rollback: @flotilla/deploy's deployRelease); copies the store
 * credentials given to this command into ~/.flotilla/agent/NAME/ (mode 0600); sets the Host's
 * `spec.agent: true`; starts `flo agent` under systemd or the sh supervisor (deploy's
 * startService; under systemd only the agent is stopped with its unit, never the instances it
 * started); and waits until that agent holds the host's lease.
 * leave: stops the agent, releases its lease, unsets `spec.agent` and removes the release and
 * the credentials. The instances keep running; the controllers probe the host over ssh again
 * and adopt them (same on-host layout).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../cli/args.js';
import { clusterOptions, openCluster, secondsOption, storeUrl, stringOption, timeoutOption, type ClusterSession } from '../cli/cluster-context.js';
import type { Host } from '@flotilla/cluster';
import type { CommandContext, CommandModule } from '../cli/registry.js';
import type { OptionSpec } from '../cli/args.js';
import { LEVELS } from '../observability/log.js';

const SERVICE = 'flo-agent';
const APP = 'flo-agent';

function fail(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: 'ClusterError', code });
}

/**
 * The `flo agent` settings that `flo host join` passes on to the agent it starts, under the
 * agent's own names (none of them is one of join's): checked here, so a bad value fails
 * before anything is installed, with the message `flo agent` would give.
 */
const AGENT_OPTIONS: readonly OptionSpec[] = [
  { name: 'lease-duration', type: 'string', value: 'SECONDS', description: "join: the agent's lease TTL: the host is NotReady this long after its last renewal (flo agent's default 40)" },
  { name: 'renew-interval', type: 'string', value: 'SECONDS', description: "join: how often the agent renews its lease (flo agent's default 10)" },
  { name: 'sync-interval', type: 'string', value: 'SECONDS', description: "join: how often the agent observes its instances and considers their health checks (flo agent's default 2)" },
  { name: 'metrics-listen', type: 'string', value: 'HOST:PORT', description: 'join: the agent serves /metrics, /healthz and /readyz there, on the host' },
  { name: 'log-format', type: 'string', value: 'text|json', description: "join: the agent's log lines (in its service log) as text or JSON" },
  { name: 'log-level', type: 'string', value: 'LEVEL', description: "join: the agent's log level: debug, info (default), warn or error" },
];

/** The `flo agent` arguments for the {@link AGENT_OPTIONS} given to join, in a fixed order; usage errors for bad values. */
function forwardedAgentArgs(ctx: CommandContext): string[] {
  const leaseSeconds = secondsOption(ctx, 'lease-duration', 40_000) / 1000;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 2) throw new UsageError(`--lease-duration ${leaseSeconds}: expected whole seconds, at least 2`);
  const renewMs = secondsOption(ctx, 'renew-interval', Math.min(10_000, (leaseSeconds * 1000) / 4));
  if (renewMs <= 0 || renewMs >= leaseSeconds * 1000) throw new UsageError(`--renew-interval: expected more than 0 and less than the lease (${leaseSeconds} s)`);
  if (secondsOption(ctx, 'sync-interval', 2000) <= 0) throw new UsageError('--sync-interval: expected more than 0 seconds');
  const format = stringOption(ctx, 'log-format');
  if (format !== undefined && format !== 'text' && format !== 'json') throw new UsageError(`--log-format ${format}: expected text or json`);
  const level = stringOption(ctx, 'log-level');
  if (level !== undefined && !(LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level ${level}: expected one of ${LEVELS.join(', ')}`);
  const listen = stringOption(ctx, 'metrics-listen');
  if (listen !== undefined && !/^(\[[0-9a-fA-F:.]+\]|[^\s:]*):\d{1,5}$/.test(listen)) throw new UsageError(`--metrics-listen ${listen}: expected HOST:PORT (e.g. 127.0.0.1:9101)`);
  return AGENT_OPTIONS.flatMap((o) => {
    const v = stringOption(ctx, o.name);
    return v === undefined ? [] : [`--${o.name}`, v];
  });
}

/** dist/agent (the release's contents): beside the built CLI, or the built one when flo runs from source. */
function agentReleaseDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'agent'), path.join(here, '..', 'agent'), path.join(here, '..', '..', 'dist', 'agent')])
    if (existsSync(path.join(dir, 'bin', 'flo.mjs'))) return dir;
  throw fail('dependency-missing', 'the agent release (dist/agent/bin/flo.mjs) is not built: build the CLI first (npm run build -w flotilla)');
}

/** The release as a reproducible .tar.gz (sorted names, fixed times and owners), so the same build is the same sha256. */
function packRelease(dir: string): { file: string; cleanup(): void } {
  const tmp = mkdtempSync(path.join(tmpdir(), 'flo-agent-release-'));
  const file = path.join(tmp, 'flo-agent.tar.gz');
  execFileSync('sh', ['-c', 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - . | gzip -n > "$2"', 'sh', dir, file]);
  return { file, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}

async function hostOf(s: ClusterSession, name: string): Promise<Host> {
  const host = await s.store.hosts.get(name);
  if (!host) throw fail('host-not-found', `host ${name} does not exist in the store: add it first (flo apply -f hosts.yaml with a kind: Host named ${name} and its ssh address)`);
  if (host.spec.address === undefined) throw fail('host-not-found', `host ${name} has no ssh address (it is a local directory host): only ssh hosts can join as agent hosts`);
  return host;
}

export const command: CommandModule = {
  usage: [
    'host join NAME [--agent-store URL] [--lease-duration SECONDS] [--renew-interval SECONDS] [--sync-interval SECONDS] [--metrics-listen HOST:PORT] [--log-format text|json] [--log-level LEVEL] [--timeout SECONDS] [--store URL] [--ssh-config FILE]', '       flo host leave NAME [--store URL] [--ssh-config FILE]'].join('\n'),
  formats: ['text'],
  description: [
    "join: over ssh, make NAME an agent host: check Node >= 20 on it, install the agent as a release (content-addressed, atomic `current`, older releases kept), copy the store credentials given here (--store-token-file, --store-ca, --store-cert/--store-key) to it, set spec.agent: true, start `flo agent` under systemd or the sh supervisor, and wait until it holds the host's lease. Joining again upgrades the agent (its instances keep running and are adopted).",
    'leave: stop the agent, release its lease, unset spec.agent, remove the release and credentials; the instances keep running and the controllers probe the host over ssh again.',
    'The store URL must be reachable from the host: --agent-store names it when the host reaches the store by another address than this machine does.',
    "--lease-duration, --renew-interval, --sync-interval, --metrics-listen, --log-format and --log-level are the agent's (see flo agent --help): join checks them and starts the agent with them; joining again without them starts it with its defaults.",
  ].join('\n'),
  subcommands: ['join', 'leave'],
  deployOptions: false,
  options: [
    { name: 'agent-store', type: 'string', value: 'URL', description: 'join: the store as the host reaches it (default --store); flotilla:// or etcd://' },
    ...AGENT_OPTIONS,
    timeoutOption,
    ...clusterOptions,
  ],
  async run(ctx) {
    const [verb, name] = ctx.args.positionals;
    if (verb !== 'join' && verb !== 'leave') throw new UsageError(verb === undefined ? 'host: expected a subcommand: join or leave' : `host: unknown subcommand ${JSON.stringify(verb)} (expected join or leave)`);
    if (name === undefined) throw new UsageError(`host ${verb}: expected the Host's name (flo host ${verb} NAME)`);
    const agentArgs = forwardedAgentArgs(ctx);
    if (verb === 'leave' && agentArgs.length > 0) throw new UsageError(`host leave: ${agentArgs[0]} is an option of join (it sets the agent that join starts)`);
    const s = await openCluster(ctx, { readOnly: true });
    try {
      return verb === 'join' ? await join(ctx, s, name, agentArgs) : await leave(ctx, s, name);
    } finally {
      await s.close();
    }
  },
};

async function join(ctx: CommandContext, s: ClusterSession, name: string, agentArgs: readonly string[]): Promise<number> {
  const host = await hostOf(s, name);
  const agentStore = stringOption(ctx, 'agent-store') ?? storeUrl(ctx);
  if (agentStore === undefined || agentStore.startsWith('file:') || !/^(flotilla|etcd):\/\//.test(agentStore))
    throw fail('lease-unsupported', `flo host join needs a store the host can reach with TTL leases: flotilla://h:p,… or etcd://h:p,… (${agentStore === undefined ? 'no --store given' : `${s.cluster.redactStoreUrl(agentStore)} is not one`}); a file store cannot hold agent leases`);
  const timeoutMs = secondsOption(ctx, 'timeout', 60_000);
  const release = agentReleaseDir();
  const runtime = s.runtime();
  const c = runtime.connection(host);
  const { deployRelease, startService, stopService, serviceStatus, shellQuote } = await import('@flotilla/deploy');
  // Node >= 20 on the host, or a clear error before anything is changed
  const node = await c.run(`command -v node >/dev/null 2>&1 && node -e 'process.stdout.write(process.versions.node)'`, { hide: true, warn: true });
  if (node.exitCode !== 0) throw fail('runtime-failed', `host ${name} has no node on its PATH: flo agent needs Node >= 20 there (install Node 20 or newer for its user, e.g. from your distribution or nodejs.org), then run flo host join ${name} again`);
  const major = Number(/^(\d+)\./.exec(node.stdout.trim())?.[1]);
  if (!(major >= 20)) throw fail('runtime-failed', `host ${name} has Node ${node.stdout.trim()}, but flo agent needs Node >= 20: upgrade Node there, then run flo host join ${name} again`);
  ctx.stderr.write(`flo: ${name}: Node ${node.stdout.trim()}; installing the agent\n`);
  const packed = packRelease(release);
  let installed;
  try {
    installed = await deployRelease(c, { app: APP, artifact: packed.file });
  } finally {
    packed.cleanup();
  }
  // credentials given to this command go with the agent, private to the host's user
  const dir = `.flotilla/agent/${name}`;
  // absolute paths, so the service's command is a simple one that the supervisor execs (its pid is the agent's)
  const home = (await c.run('printf %s "$HOME"', { hide: true })).stdout.trim();
  await c.run(`mkdir -p ${shellQuote(dir)} && chmod 700 .flotilla/agent ${shellQuote(dir)}`, { hide: true });
  const args: string[] = ['agent', '--host', name, '--store', agentStore, '--address', runtime.addressOf(host), ...agentArgs];
  const creds: [flag: string, option: string, file: string][] = [
    ['--store-token-file', 'store-token-file', 'store.token'],
    ['--store-ca', 'store-ca', 'store-ca.pem'],
    ['--store-cert', 'store-cert', 'store-cert.pem'],
    ['--store-key', 'store-key', 'store-key.pem'],
  ];
  for (const [flag, option, file] of creds) {
    const local = stringOption(ctx, option) ?? ctx.env[`FLO_${option.toUpperCase().replace(/-/g, '_')}`];
    if (local === undefined || local === '') continue;
    await c.writeFile(`${dir}/${file}`, readFileSync(path.resolve(ctx.cwd, local), 'utf8'), { mode: 0o600 });
    args.push(flag, `${home}/${dir}/${file}`);
  }
  await s.store.hosts.mutate(name, (cur) => (cur.spec.agent === true ? undefined : { ...cur, spec: { ...cur.spec, agent: true } }));
  // joining again is an upgrade: the old agent stops (its instances stay), the new one adopts them
  await stopService(c, SERVICE, { gracePeriodSeconds: 10 }).catch(() => undefined);
  const previous = await s.cluster.readHostLease(s.store.kv, name).catch(() => undefined);
  const command = [`node`, `${home}/.flotilla/apps/${APP}/current/bin/flo.mjs`, ...args].map((a) => shellQuote(a)).join(' ');
  const started = await startService(c, { name: SERVICE, command, restart: 'always', gracePeriodSeconds: 10, killMode: 'process' });
  ctx.stderr.write(`flo: ${name}: agent started under ${started.runtime} (pid ${started.pid ?? '?'}); waiting for its lease\n`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lease = await s.cluster.readHostLease(s.store.kv, name).catch(() => undefined);
    const status = await serviceStatus(c, SERVICE, started.runtime).catch(() => undefined);
    // the lease of this agent: held by the pid the supervisor runs (a new one when joining again)
    if (lease && (status?.pid != null ? lease.record.pid === status.pid : lease.record.pid !== previous?.record.pid)) {
      ctx.stdout.write(`${name} joined: agent ${lease.record.holderIdentity} (pid ${lease.record.pid}, release ${installed.sha256.slice(0, 12)}) holds its lease\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      const log = await c.run(`tail -n 15 .flotilla/services/${SERVICE}/log 2>/dev/null || true`, { hide: true, warn: true });
      throw fail('timeout', `host ${name}: the agent did not take the host's lease within ${timeoutMs / 1000} s (is ${s.cluster.redactStoreUrl(agentStore)} reachable from ${name}?)${log.stdout.trim() ? `; its log ends:\n${log.stdout.trimEnd()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function leave(ctx: CommandContext, s: ClusterSession, name: string): Promise<number> {
  const host = await hostOf(s, name);
  const c = s.runtime().connection(host);
  const { stopService, shellQuote } = await import('@flotilla/deploy');
  await stopService(c, SERVICE, { gracePeriodSeconds: 10 });
  await c.run(`rm -rf .flotilla/services/${SERVICE} .flotilla/apps/${APP} ${shellQuote(`.flotilla/agent/${name}`)}`, { hide: true });
  const kv = s.store.kv;
  // spec.agent unset before the lease is released: a controller that sees the lease go while
  // the Host still says agent would judge it NotReady and evict its instances
  await s.store.hosts.mutate(name, (cur) => {
    if (cur.spec.agent === undefined) return undefined;
    const spec = { ...cur.spec };
    delete spec.agent;
    return { ...cur, spec };
  });
  const released = s.cluster.hasLeases(kv) ? await s.cluster.releaseHostLease(kv, name) : false;
  ctx.stdout.write(`${name} left: its agent is stopped${released ? ' and its lease released' : ''}; its instances keep running, and the controllers probe it over ssh again\n`);
  return 0;
}
