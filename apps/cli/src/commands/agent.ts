/**
 * `flo agent --host NAME --store URL`: the per-host agent (DESIGN.md, Host agents and scale).
 * Runs on the host as the host's user; its instances run through the local transport with the
 * same on-host layout as over ssh (`~/.flotilla/`), so what runs is adopted either way.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, homedir, hostname, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { UsageError } from '../cli/args.js';
import { remoteStoreOptions, requestTimeoutOption, secondsOption, storeUrl, stringOption, trackStore } from '../cli/cluster-context.js';
import type { HostAgentState } from '@flotilla/cluster';
import type { CommandModule } from '../cli/registry.js';
import { storeCredentialOptions } from '../cli/store-credentials.js';
import { loggerFor, logOptions, type CliLogger } from '../observability/log.js';
import { metricsListenOption } from '../observability/options.js';

const HOST_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function cliVersion(): string {
  for (const rel of ['../package.json', '../../package.json', './package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string }).version;
    } catch {
      // next
    }
  }
  return '0.0.0';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The agent's state directory: its identity (kept across restarts, so a restarted agent takes
 * its own lease over) and a pid file that keeps a second agent for the same host from
 * starting from the same directory.
 */
function claimStateDir(dir: string, host: string): { identity: string; release(): void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const idFile = path.join(dir, 'identity');
  let identity: string;
  try {
    identity = readFileSync(idFile, 'utf8').trim();
  } catch {
    identity = `${host}-${randomBytes(8).toString('hex')}`;
    writeFileSync(idFile, `${identity}\n`, { mode: 0o600 });
  }
  const pidFile = path.join(dir, 'agent.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(pidFile, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        identity,
        release: () => {
          try {
            if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) rmSync(pidFile);
          } catch {
            // gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw Object.assign(new Error(`another flo agent (pid ${pid}) already runs for host ${host} from ${dir}: stop it first (kill ${pid}), or give this one its own --state-dir`), { name: 'ClusterError', code: 'host-claimed' });
      rmSync(pidFile, { force: true }); // left by an agent that died
    }
  }
  throw new Error(`cannot create ${pidFile}`);
}

export const command: CommandModule = {
  usage:
    'agent --host NAME --store URL [--address ADDR] [--state-dir DIR] [--lease-duration SECONDS] [--renew-interval SECONDS] [--sync-interval SECONDS] [--metrics-listen HOST:PORT] [--log-format text|json] [--log-level LEVEL]  |  agent --hollow N --store URL [--hollow-prefix P] [--hollow-start K] [--hollow-capacity cpu=32,memory=128Gi]',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description:
    "The per-host agent: run on a host (flo host join installs and starts it). Claims the host's lease in the store and renews it every 10 s, reports the host's facts, watches the instances bound to the host and runs them here (processes and containers, as over ssh), health-checks them locally and writes their status when it changes. Instances keep running when the agent or the store goes away; a restarted agent adopts them. Stops on SIGINT/SIGTERM, leaving its lease to expire (flo host leave releases it).",
  deployOptions: false,
  options: [
    { name: 'host', type: 'string', value: 'NAME', description: 'the Host object this machine is (it must exist in the store)' },
    { name: 'store', type: 'string', value: 'URL', description: 'the cluster store, reachable from this host: flotilla://h:p,… or etcd://h:p,… (default $FLO_STORE); a file:// store has no TTL leases and is refused' },
    ...storeCredentialOptions,
    requestTimeoutOption,
    { name: 'address', type: 'string', value: 'ADDR', description: "the address this host's instances are reached at (their HOST; default the Host's spec.address when it is an IP, else 127.0.0.1)" },
    { name: 'state-dir', type: 'string', value: 'DIR', description: "the agent's identity and pid file (default ~/.flotilla/agent/NAME)" },
    { name: 'lease-duration', type: 'string', value: 'SECONDS', description: "the lease's TTL: the host is NotReady this long after the agent's last renewal (hostGracePeriodSeconds, default 40)" },
    { name: 'renew-interval', type: 'string', value: 'SECONDS', description: 'how often the lease is renewed (default 10)' },
    { name: 'sync-interval', type: 'string', value: 'SECONDS', description: 'how often instances are observed and health checks considered (default 2)' },
    metricsListenOption,
    { name: 'hollow', type: 'string', value: 'N', description: "run N simulated hosts in this process instead (kubemark's hollow nodes, for scale tests): each registers a Host with spec.agent: true, holds its own lease and watch, and reports its instances Running as soon as it sees them; nothing runs. Leases are renewed together, status written in batched transactions" },
    { name: 'hollow-prefix', type: 'string', value: 'P', description: 'hollow host names are P0, P1, … (default hollow-)' },
    { name: 'hollow-start', type: 'string', value: 'K', description: 'the first hollow index, so several processes share out one range of names (default 0)' },
    { name: 'hollow-capacity', type: 'string', value: 'RES=Q,…', description: "each hollow Host's capacity (default cpu=32,memory=128Gi)" },
    ...logOptions,
  ],
  async run(ctx) {
    if (stringOption(ctx, 'hollow') !== undefined) return runHollow(ctx);
    for (const flag of ['hollow-prefix', 'hollow-start', 'hollow-capacity']) if (stringOption(ctx, flag) !== undefined) throw new UsageError(`--${flag} is for hollow hosts: give --hollow N too`);
    const hostName = stringOption(ctx, 'host');
    if (hostName === undefined) throw new UsageError('flo agent: --host NAME is required (the Host object this machine is)');
    if (!HOST_NAME.test(hostName)) throw new UsageError(`--host ${hostName}: expected a host name (lowercase letters, digits, '-' and '.')`);
    const url = storeUrl(ctx);
    if (url === undefined) throw new UsageError('flo agent: --store URL is required (flotilla://h:p,… or etcd://h:p,…, reachable from this host)');
    const leaseSeconds = secondsOption(ctx, 'lease-duration', 40_000) / 1000;
    if (!Number.isInteger(leaseSeconds) || leaseSeconds < 2) throw new UsageError(`--lease-duration ${leaseSeconds}: expected whole seconds, at least 2`);
    const renewMs = secondsOption(ctx, 'renew-interval', Math.min(10_000, (leaseSeconds * 1000) / 4));
    if (renewMs <= 0 || renewMs >= leaseSeconds * 1000) throw new UsageError(`--renew-interval: expected more than 0 and less than the lease (${leaseSeconds} s)`);
    const syncMs = secondsOption(ctx, 'sync-interval', 2000);
    if (syncMs <= 0) throw new UsageError('--sync-interval: expected more than 0 seconds');
    const stateDir = path.resolve(ctx.cwd, stringOption(ctx, 'state-dir') ?? path.join(homedir(), '.flotilla', 'agent', hostName));
    const log = loggerFor(ctx, `flo agent ${hostName}`, { host: hostName });

    const cluster = await import('@flotilla/cluster');
    const location = cluster.parseStoreUrl(url, ctx.cwd);
    const where = cluster.redactStoreUrl(url);
    if (location.type === 'file')
      throw Object.assign(new Error(`the store ${where} has no TTL leases, which agents need (a host's readiness is its agent's lease, expired by the store): use a Flotilla KV (flotilla://h:p,…) or etcd (etcd://h:p,…) store`), { name: 'ClusterError', code: 'lease-unsupported' });
    const state = claimStateDir(stateDir, hostName);
    const abort = new AbortController();
    const stop = (): void => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let metricsServer: { close(): Promise<void> } | undefined;
    let kv: Awaited<ReturnType<typeof cluster.openKvStore>> | undefined;
    let runtime: InstanceType<typeof cluster.DeployRuntime> | undefined;
    try {
      // the store client's retries (connection refused, no leader) go to the agent, which
      // reports the outage once and its end once — a store restarted within one call's retry
      // window is an outage too; before the agent exists the start loop below reports them
      const options = remoteStoreOptions(ctx);
      let current: { storeRetrying(reason: string): void } | undefined;
      options.raft = { ...options.raft, client: { ...options.raft?.client, onRetry: (info) => current?.storeRetrying(`${info.endpoint}: ${info.reason}`) } };
      kv = trackStore(ctx, await cluster.openKvStore(location, options), location);
      const store = new cluster.ClusterStore(kv);
      // the address instances listen on and are health-checked at
      const explicit = stringOption(ctx, 'address');
      const address = async (): Promise<string> => {
        if (explicit !== undefined) return explicit;
        const h = await store.hosts.get(hostName);
        const a = h?.spec.address;
        return a !== undefined && /^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$/.test(a) ? a : '127.0.0.1';
      };
      const home = homedir();
      let agent: InstanceType<typeof cluster.HostAgent> | undefined;
      let lastStart = 0;
      let unreachableSince: number | undefined;
      // the store may be away when the agent starts (a reboot, a store restart): retry that
      // with backoff; a missing Host, another agent's lease or refused credentials end it
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          const addr = await address();
          runtime = new cluster.DeployRuntime({ localAddress: addr, onWarning: (m) => log.warn(m) });
          agent = new cluster.HostAgent({
            store,
            storeName: where,
            host: hostName,
            runtime,
            identity: state.identity,
            about: { version: cliVersion(), machine: hostname(), address: addr, pid: process.pid, mode: 'process' },
            runtimeHost: (h) => ({ ...h, spec: { ...h.spec, local: { dir: home } } }),
            facts: () => Promise.resolve({ load1: loadavg()[0] ?? 0, cores: cpus().length, memoryBytes: totalmem() }),
            leaseDurationSeconds: leaseSeconds,
            renewIntervalMs: renewMs,
            syncIntervalMs: syncMs,
            logger: log,
            onStoreState: () => undefined,
          });
          await agent.start();
          lastStart = Date.now();
          if (unreachableSince !== undefined) log.info(`store ${where} reachable again after ${Math.round((lastStart - unreachableSince) / 1000)} s`, { downForMs: lastStart - unreachableSince });
          current = agent;
          break;
        } catch (e) {
          await runtime?.close();
          runtime = undefined;
          agent = undefined;
          if (!retriable(e)) throw e;
          unreachableSince ??= Date.now();
          const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
          log.warn(`store ${where} unreachable (${e instanceof Error ? e.message : String(e)}); retrying in ${delay / 1000} s`);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
      if (!agent) return 0;
      log.info(`agent ${state.identity} runs the instances of host ${hostName} (store ${where})`, { identity: state.identity, lastStart });
      const metricsListen = stringOption(ctx, 'metrics-listen');
      if (metricsListen !== undefined) metricsServer = await startAgentMetrics(log, agent, metricsListen, renewMs, leaseSeconds);
      // on SIGTERM the loops end at once, but a store call in flight may be retrying for up
      // to --request-timeout: give them 5 s, then stop anyway (nothing is lost: the lease
      // just expires, the instances keep running)
      await Promise.race([agent.run(abort.signal), new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => setTimeout(resolve, 5000).unref(), { once: true }))]);
      log.info('stopped (the instances keep running; the lease expires unless another agent of this identity takes it)');
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      abort.abort();
      state.release();
      await metricsServer?.close();
      await runtime?.close();
      await kv?.close();
    }
  },
};

/** `cpu=32,memory=128Gi` → a capacity, each quantity checked as manifests check it. */
function parseCapacity(text: string, pattern: RegExp): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^([a-zA-Z][-a-zA-Z0-9_./]*)=(.+)$/.exec(part.trim());
    if (!m) throw new UsageError(`--hollow-capacity ${text}: expected RESOURCE=QUANTITY pairs separated by commas, e.g. cpu=32,memory=128Gi ("${part}" is not one)`);
    if (!pattern.test(m[2]!)) throw new UsageError(`--hollow-capacity: ${m[1]}=${m[2]} is not a quantity (e.g. 32, 500m, 128Gi)`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** `flo agent --hollow N`: N simulated hosts in this process (HollowFleet). */
async function runHollow(ctx: Parameters<CommandModule['run']>[0]): Promise<number> {
  const nText = stringOption(ctx, 'hollow')!;
  if (!/^[1-9]\d*$/.test(nText) || Number(nText) > 100_000) throw new UsageError(`--hollow ${nText}: expected the number of hollow hosts, 1 to 100000`);
  if (stringOption(ctx, 'host') !== undefined) throw new UsageError('flo agent: --host names one real host; --hollow N simulates N of them (names from --hollow-prefix): give one or the other');
  const prefix = stringOption(ctx, 'hollow-prefix') ?? 'hollow-';
  if (!/^[a-z0-9]([-a-z0-9.]*)?$/.test(prefix)) throw new UsageError(`--hollow-prefix ${prefix}: expected lowercase letters, digits, '-' and '.', starting with a letter or digit`);
  const startText = stringOption(ctx, 'hollow-start') ?? '0';
  if (!/^\d+$/.test(startText)) throw new UsageError(`--hollow-start ${startText}: expected a whole number`);
  const url = storeUrl(ctx);
  if (url === undefined) throw new UsageError('flo agent --hollow: --store URL is required (flotilla://h:p,… or etcd://h:p,…)');
  const leaseSeconds = secondsOption(ctx, 'lease-duration', 40_000) / 1000;
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 2) throw new UsageError(`--lease-duration ${leaseSeconds}: expected whole seconds, at least 2`);
  const renewMs = secondsOption(ctx, 'renew-interval', Math.min(10_000, (leaseSeconds * 1000) / 4));
  if (renewMs <= 0 || renewMs >= leaseSeconds * 1000) throw new UsageError(`--renew-interval: expected more than 0 and less than the lease (${leaseSeconds} s)`);
  const cluster = await import('@flotilla/cluster');
  const capacityText = stringOption(ctx, 'hollow-capacity');
  const capacity = capacityText !== undefined ? parseCapacity(capacityText, new RegExp(cluster.QUANTITY_PATTERN)) : undefined;
  const first = Number(startText);
  const count = Number(nText);
  const log = loggerFor(ctx, `flo agent --hollow ${count}`, { hollow: count });
  const location = cluster.parseStoreUrl(url, ctx.cwd);
  const where = cluster.redactStoreUrl(url);
  if (location.type === 'file')
    throw Object.assign(new Error(`the store ${where} has no TTL leases, which agents need (a host's readiness is its agent's lease, expired by the store): use a Flotilla KV (flotilla://h:p,…) or etcd (etcd://h:p,…) store`), { name: 'ClusterError', code: 'lease-unsupported' });
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let kv: Awaited<ReturnType<typeof cluster.openKvStore>> | undefined;
  let metricsServer: { close(): Promise<void> } | undefined;
  try {
    kv = trackStore(ctx, await cluster.openKvStore(location, remoteStoreOptions(ctx)), location);
    const fleet = new cluster.HollowFleet({
      store: new cluster.ClusterStore(kv),
      storeName: where,
      count,
      prefix,
      first,
      ...(capacity ? { capacity } : {}),
      // stable across restarts of the same command on this machine, so a restart takes its leases over
      identity: `hollow@${hostname()}:${prefix}${first}+${count}`,
      about: { version: cliVersion(), machine: hostname(), address: '127.0.0.1', pid: process.pid },
      leaseDurationSeconds: leaseSeconds,
      renewIntervalMs: renewMs,
      logger: log,
    });
    await fleet.start();
    const metricsListen = stringOption(ctx, 'metrics-listen');
    if (metricsListen !== undefined) {
      metricsServer = await startAgentMetrics(
        log,
        {
          state: () => {
            const s = fleet.state();
            return { leaseHeld: s.leasesHeld === s.hosts, storeReachable: s.storeReachable, ...(s.lastRenewal !== undefined ? { lastRenewal: s.lastRenewal } : {}), instances: s.reportedRunning, started: s.reportedRunning, stopped: s.removed, statusWrites: s.statusWrites, renewals: s.renewals };
          },
        },
        metricsListen,
        renewMs,
        leaseSeconds,
      );
    }
    await fleet.run(abort.signal);
    const s = fleet.state();
    log.info(`stopped: ${s.reportedRunning} instances reported Running, ${s.removed} removed, in ${s.statusWrites} status writes; the leases expire in ${leaseSeconds} s`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    abort.abort();
    await metricsServer?.close();
    await kv?.close();
  }
}

/** A store that does not answer is retried; bad credentials, a missing Host or another agent's lease are not. */
function retriable(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (code !== 'store-unavailable') return false;
  const causeCode = (e as { cause?: { code?: unknown } }).cause?.code;
  const text = `${e instanceof Error ? e.message : String(e)} ${typeof causeCode === 'string' ? causeCode : ''}`;
  return !/unauthori[sz]ed|bearer token|authentication failed|permission denied|invalid auth|certificate/i.test(text);
}

/** /metrics, /healthz, /readyz of the agent (prom-client loads only here). Ready = holds its lease and reached the store within a lease duration. */
async function startAgentMetrics(
  log: CliLogger,
  agent: { state(): HostAgentState },
  listen: string,
  renewMs: number,
  leaseSeconds: number,
): Promise<{ close(): Promise<void> }> {
  const [{ Registry, collectDefaultMetrics, Counter, Gauge }, { startMetricsServer }] = await Promise.all([import('prom-client'), import('../observability/http.js')]);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string, value: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
  };
  // The agent's own tallies only grow: exposed as counters (TYPE counter, so rate() and
  // increase() apply), advanced by what the tally gained since the last scrape.
  const counter = (name: string, help: string, value: () => number): void => {
    let seen = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = value();
        if (now > seen) this.inc(now - seen);
        seen = Math.max(seen, now);
      },
    });
  };
  gauge('flotilla_agent_lease_held', 'Whether the agent holds its host lease (1) or not (0).', () => (agent.state().leaseHeld ? 1 : 0));
  gauge('flotilla_agent_store_reachable', 'Whether the store answered the last call (1) or not (0).', () => (agent.state().storeReachable ? 1 : 0));
  counter('flotilla_agent_lease_renewals_total', 'Lease keep-alives that succeeded.', () => agent.state().renewals);
  counter('flotilla_agent_status_writes_total', 'Status writes (instances and Host).', () => agent.state().statusWrites);
  gauge('flotilla_agent_instances', 'Instances bound to this host that the agent knows.', () => agent.state().instances);
  counter('flotilla_agent_instances_started_total', 'Instances the agent started.', () => agent.state().started);
  counter('flotilla_agent_instances_stopped_total', 'Instances the agent stopped.', () => agent.state().stopped);
  const server = await startMetricsServer({
    listen,
    flag: '--metrics-listen',
    registry,
    ready: [
      { name: 'lease', check: () => (agent.state().leaseHeld ? undefined : 'does not hold the host lease') },
      {
        name: 'store',
        check: () => {
          const s = agent.state();
          if (!s.storeReachable) return 'the store does not answer';
          const ago = s.lastRenewal === undefined ? Infinity : performance.timeOrigin + performance.now() - s.lastRenewal;
          return ago <= Math.max(leaseSeconds * 1000, renewMs * 2) ? undefined : `no renewal for ${Math.round(ago / 1000)} s`;
        },
      },
    ],
  });
  log.info(`metrics on ${server.url}/metrics (also /healthz, /readyz)`, { url: `${server.url}/metrics` });
  return server;
}

