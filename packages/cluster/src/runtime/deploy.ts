/**
 * The real {@link InstanceRuntime}, over @flotilla/deploy: ssh for hosts with an
 * `address`, the `local` transport for hosts with `local: {dir}`. Hosts need only sh.
 *
 * - Artifacts are content-addressed and installed by deploy's `installArtifact`: uploaded
 *   once per host (skipped when the host has it), checked, and unpacked once into their
 *   release directory; a `{url, sha256}` artifact is downloaded by the host.
 * - Each instance runs under deploy's POSIX sh supervisor (a service named after it),
 *   which records the pid of the instance's own command (rewritten after each restart),
 *   restarts it per the restart policy with backoff, and stops it with SIGTERM then SIGKILL
 *   after the grace period. The working directory is the unpacked release.
 * - Each declared port gets a port free on the host (not listening per /proc/net/tcp*, not
 *   given to another instance by this process); `HOST`, `PORT` (the first port) and
 *   `PORT_<NAME>` are set.
 * - `observe` asks deploy's `observeServices` for every named instance in one command per host
 *   (its ports are the service's, given to `startService`). What is on the host (files,
 *   directories) is deploy's; this module only decides what runs where.
 * - HTTP health checks are made from this process to the host's address; `exec` checks run
 *   on the host in the release directory.
 * - A template with an `image` runs as a container through `@flotilla/deploy/image`
 *   (`runContainer`: the host gets only the blobs it lacks, checks them and the signature, and
 *   runc runs the bundle under the same supervisor). The image is rebuilt from apply's
 *   content store by digest. Ports are chosen as for processes; `observe` asks for every
 *   container of a host in one command (`containerStatuses`); exec health checks run inside
 *   the container (`runc exec`); logs, restart and stop go through the same module. A
 *   container outlives this process and is adopted by name (never started twice).
 * - With a Network (`start`'s `options.network`), a container gets its own network namespace
 *   on the host's pod subnet (CNI ADD through `runContainer`'s `network`, with the plugins in
 *   the Host's `spec.cniBinDir`, default /usr/lib/cni), listens on all of
 *   its addresses (`HOST=0.0.0.0`), and each port is forwarded from the same port on the host's
 *   address (CNI portmap), so HTTP health checks still go to the host's address; `podIP` is in
 *   what `start` and `observe` report. `stop` runs CNI DEL from the state ADD saved on the host
 *   (also when the host was away meanwhile, and with the plugin directory ADD used even when
 *   the Host's `spec.cniBinDir` changed since). `observe` runs CNI CHECK of each pod at most every
 *   `podNetworkCheckMs` and reports what it found broken (`networkProblem`).
 */
import {
  type Connection,
  artifactReleaseDir,
  connectHostAddress,
  installArtifact,
  isCommandFailedError,
  observeServices,
  removeService,
  resolveSshTarget,
  serviceLogPath,
  shellJoin,
  shellQuote,
  signalService,
  startService,
  stopService,
} from '@flotilla/deploy';
import { posix } from 'node:path';
import { ClusterError } from '../errors.js';
import { isImageRef, loadImageModule, openStoredImage, type StoredImageHandle } from '../images.js';
import { cpuCores, memoryBytes } from '../manifest/quantity.js';
import type { ArtifactRef, HealthCheck, Host, Instance, InstanceTemplateSpec } from '../manifest/types.js';
import { Channel } from '../store/channel.js';
import { checkPodNetwork } from '@flotilla/deploy/network';
import type { ContainerFacts, HostProbe, InstanceRuntime, ObservedInstance, PodNetworkContext, StartedInstance, StartOptions } from './types.js';

/** Options of {@link DeployRuntime}. */
export interface DeployRuntimeOptions {
  /** ssh_config files to read (`--ssh-config`). @default ['~/.ssh/config', '/etc/ssh/ssh_config'] */
  sshConfigFiles?: string[];
  /** Accept keys of hosts not in known_hosts. @default false */
  acceptNewHostKeys?: boolean;
  /** Private keys tried first. @default ssh_config's */
  identityFiles?: string[];
  /** Timeout of every command on a host. @default 30000 */
  commandTimeoutMs?: number;
  /** Connect timeout for ssh. @default 10000 */
  connectTimeoutMs?: number;
  /** Range ports are chosen from. @default [20000, 29999] */
  portRange?: [number, number];
  /** Randomness for port choice. @default Math.random */
  random?: () => number;
  /** Receives warnings (new host keys accepted, ...). */
  onWarning?: (message: string) => void;
  /**
   * After a container stops, its host's image blobs and layer snapshots that no container
   * uses and that belong to none of the last `imagesKept` images it received are removed
   * (`gcImages`); `false` keeps everything. @default 3
   */
  imagesKept?: number | false;
  /**
   * The address of a `local` host's instances (their `HOST`, and where HTTP health checks go):
   * `flo agent` runs its host's instances through the local transport and gives the host's
   * own address here. @default 127.0.0.1
   */
  localAddress?: string;
  /** How often `observe` runs CNI CHECK on each container with pod networking. @default 30000 */
  podNetworkCheckMs?: number;
  /** Clock for `podNetworkCheckMs`. @default Date.now */
  now?: () => number;
}

/** `PORT_<NAME>` for a port name (`admin-ui` → `PORT_ADMIN_UI`). */
export function portEnvName(name: string): string {
  return `PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function isRef(a: unknown): a is ArtifactRef {
  return typeof a === 'object' && a !== null && typeof (a as { sha256?: unknown }).sha256 === 'string';
}

/** Is this instance a container (its template has an image)? */
function isContainer(instance: Instance): boolean {
  return instance.spec.template.image !== undefined;
}

/** cpu in cores and memory in bytes, for the container runtime. */
function containerResources(q: Record<string, string | number> | { cpu?: string | number; memory?: string | number } | undefined): { cpu?: number; memory?: number } | undefined {
  if (!q) return undefined;
  const cpu = (q as { cpu?: string | number }).cpu;
  const memory = (q as { memory?: string | number }).memory;
  if (cpu === undefined && memory === undefined) return undefined;
  return { ...(cpu !== undefined ? { cpu: cpuCores(cpu) } : {}), ...(memory !== undefined ? { memory: memoryBytes(memory) } : {}) };
}

function factsOf(s: { imageDigest?: string; signedBy?: string; rootless: boolean; limitsEnforced: boolean }): ContainerFacts {
  return { ...(s.imageDigest !== undefined ? { imageDigest: s.imageDigest } : {}), ...(s.signedBy !== undefined ? { signedBy: s.signedBy } : {}), rootless: s.rootless, limitsEnforced: s.limitsEnforced };
}

const LISTENING = `cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk 'NR>0 && $4=="0A" {n=split($2,a,":"); print a[n]}' | sort -u`;

export class DeployRuntime implements InstanceRuntime {
  readonly #options: DeployRuntimeOptions;
  readonly #connections = new Map<string, { key: string; connection: Connection }>();
  readonly #hostLocks = new Map<string, Promise<unknown>>();
  readonly #assignedPorts = new Map<string, Set<number>>();
  readonly #random: () => number;
  /** The last CNI CHECK of each pod, by `host/instance`: when, and what it found broken. */
  readonly #podChecks = new Map<string, { at: number; problem?: string }>();

  constructor(options: DeployRuntimeOptions = {}) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    const [lo, hi] = options.portRange ?? [20000, 29999];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi)
      throw new TypeError(`portRange: expected [low, high] within 1..65535, received ${JSON.stringify(options.portRange)}`);
  }

  /** The (cached) connection to a host. */
  connection(host: Host): Connection {
    const key = JSON.stringify(host.spec);
    const cached = this.#connections.get(host.metadata.name);
    if (cached?.key === key) return cached.connection;
    if (cached) void cached.connection.close();
    const connection = this.#connect(host, {});
    this.#connections.set(host.metadata.name, { key, connection });
    return connection;
  }

  /**
   * Runs `fn` on the host's connection. A failure that is not a command's own non-zero exit
   * (a lost or hung connection, a timeout) drops the cached connection, so the next call
   * connects afresh — a host that comes back is reached again.
   */
  async #with<T>(host: Host, fn: (c: Connection) => Promise<T>): Promise<T> {
    const c = this.connection(host);
    try {
      return await fn(c);
    } catch (e) {
      if (!isCommandFailedError(e)) {
        const cached = this.#connections.get(host.metadata.name);
        if (cached?.connection === c) this.#connections.delete(host.metadata.name);
        void c.close().catch(() => undefined);
      }
      throw e;
    }
  }

  #connect(host: Host, extra: { onOutput?: (line: string) => void; noTimeout?: boolean }): Connection {
    const s = host.spec;
    const common = {
      ...(extra.noTimeout ? {} : { commandTimeoutMs: this.#options.commandTimeoutMs ?? 30_000 }),
      ...(extra.onOutput ? { onOutput: extra.onOutput } : {}),
    };
    if (!s.local && s.address === undefined) throw new ClusterError('runtime-failed', `host ${host.metadata.name} has neither address nor local`);
    return connectHostAddress(host.metadata.name, s, {
      ...common,
      ...(this.#options.identityFiles ? { identityFiles: this.#options.identityFiles } : {}),
      ...(this.#options.sshConfigFiles ? { sshConfigFiles: this.#options.sshConfigFiles } : {}),
      acceptNewHostKeys: this.#options.acceptNewHostKeys ?? false,
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 10_000,
      keepaliveIntervalMs: 5000,
      ...(this.#options.onWarning ? { onWarning: this.#options.onWarning } : {}),
    });
  }

  /** Runs `fn` after every earlier locked operation on the same host. */
  #locked<T>(host: Host, fn: () => Promise<T>): Promise<T> {
    const name = host.metadata.name;
    const prev = this.#hostLocks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    this.#hostLocks.set(
      name,
      run.catch(() => undefined),
    );
    return run;
  }

  readonly #addresses = new Map<string, string>();

  /** The address instances of this host listen on: 127.0.0.1 for a local host; else the ssh HostName (an ssh_config alias resolved). */
  addressOf(host: Host): string {
    if (host.spec.local || host.spec.address === undefined) return this.#options.localAddress ?? '127.0.0.1';
    const alias = host.spec.address;
    let resolved = this.#addresses.get(alias);
    if (resolved === undefined) {
      try {
        resolved = resolveSshTarget(alias, this.#options.sshConfigFiles ? { sshConfigFiles: this.#options.sshConfigFiles } : {}).hostName;
      } catch {
        resolved = alias;
      }
      this.#addresses.set(alias, resolved);
    }
    return resolved;
  }

  async probeHost(host: Host, signal?: AbortSignal): Promise<HostProbe> {
    const r = await this.#with(host, (c) => c.run('cat /proc/loadavg 2>/dev/null || uptime', { hide: true, timeoutMs: 10_000, ...(signal ? { signal } : {}) }));
    const m = /load averages?:\s*([\d.]+)/.exec(r.stdout) ?? /^\s*([\d.]+)/.exec(r.stdout);
    return m ? { load1: Number(m[1]) } : {};
  }

  async #freePorts(c: Connection, host: Host, count: number, signal?: AbortSignal): Promise<number[]> {
    if (count === 0) return [];
    const r = await c.run(LISTENING, { hide: true, warn: true, ...(signal ? { signal } : {}) });
    const busy = new Set(r.stdout.split('\n').filter(Boolean).map((h) => Number.parseInt(h, 16)));
    const mine = this.#assignedPorts.get(host.metadata.name) ?? new Set<number>();
    this.#assignedPorts.set(host.metadata.name, mine);
    const [lo, hi] = this.#options.portRange ?? [20000, 29999];
    const out: number[] = [];
    for (let attempt = 0; out.length < count; attempt++) {
      if (attempt > 10_000) throw new ClusterError('runtime-failed', `no free port in ${lo}-${hi} on ${host.metadata.name}`);
      const p = lo + Math.floor(this.#random() * (hi - lo + 1));
      if (busy.has(p) || mine.has(p) || out.includes(p)) continue;
      out.push(p);
    }
    for (const p of out) mine.add(p);
    return out;
  }

  start(host: Host, instance: Instance, signal?: AbortSignal, options: StartOptions = {}): Promise<StartedInstance> {
    return this.#locked(host, () => this.#with(host, async (c) => {
      const name = instance.metadata.name;
      const t = instance.spec.template;
      // already running (a controller restarted mid-way): report it
      const seen = (await this.observe(host, [instance], signal)).get(name);
      if (seen?.state === 'running') return { ...(seen.pid !== undefined ? { pid: seen.pid } : {}), ports: seen.ports ?? {}, ...(seen.container ? { container: seen.container } : {}), ...(seen.podIP !== undefined ? { podIP: seen.podIP } : {}) };
      if (isContainer(instance)) return this.#startContainer(c, host, instance, signal, options.network);
      const artifact = t.artifact;
      const cwd = isRef(artifact) ? await installArtifact(c, artifact, signal ? { signal } : {}) : undefined;
      const names = (t.ports ?? []).map((p) => p.name);
      const numbers = await this.#freePorts(c, host, names.length, signal);
      const ports: Record<string, number> = {};
      names.forEach((n, i) => (ports[n] = numbers[i]!));
      const env: Record<string, string> = { ...t.env, HOST: this.addressOf(host), FLOTILLA_INSTANCE: name };
      if (numbers.length > 0) env.PORT = String(numbers[0]);
      for (const [n, p] of Object.entries(ports)) env[portEnvName(n)] = String(p);
      const status = await startService(c, {
        name,
        ports,
        command: shellJoin([...(t.command ?? []), ...(t.args ?? [])]),
        ...(cwd !== undefined ? { cwd } : {}),
        env,
        restart: t.restartPolicy === 'Never' ? 'never' : t.restartPolicy === 'OnFailure' ? 'on-failure' : 'always',
        gracePeriodSeconds: t.terminationGracePeriodSeconds ?? 10,
        runtime: 'supervisor',
      });
      // A service found already running (its process starting, or a supervisor between
      // restarts, when observe looked) keeps the ports it was started with: report those, and
      // give back the ones chosen here.
      const actual = status.ports ?? ports;
      if (actual !== ports) for (const p of numbers) if (!Object.values(actual).includes(p)) this.#assignedPorts.get(host.metadata.name)?.delete(p);
      return { ...(status.pid !== null ? { pid: status.pid } : {}), ports: actual };
    }));
  }

  readonly #images = new Map<string, Promise<StoredImageHandle>>();

  /** The recorded image of a template, read back from apply's store (once per digest and store). */
  #image(t: InstanceTemplateSpec, name: string): Promise<StoredImageHandle> {
    const image = t.image;
    if (!isImageRef(image)) return Promise.reject(new ClusterError('runtime-failed', `instance ${name}: its image ${JSON.stringify(image)} was not stored by apply: apply the manifest again`));
    const key = `${image.store}\0${image.digest}`;
    let p = this.#images.get(key);
    if (!p) {
      p = openStoredImage(image);
      p.catch(() => this.#images.delete(key));
      this.#images.set(key, p);
    }
    return p;
  }

  async #startContainer(c: Connection, host: Host, instance: Instance, signal?: AbortSignal, network?: PodNetworkContext): Promise<StartedInstance> {
    const name = instance.metadata.name;
    const t = instance.spec.template;
    const [m, handle] = await Promise.all([loadImageModule(), this.#image(t, name)]);
    const names = (t.ports ?? []).map((p) => p.name);
    const numbers = await this.#freePorts(c, host, names.length, signal);
    const ports: Record<string, number> = {};
    names.forEach((n, i) => (ports[n] = numbers[i]!));
    const resources = containerResources(t.resources);
    const limits = containerResources(t.limits);
    const st = await m.runContainer(c, {
      name,
      image: handle.image,
      store: handle.store,
      ...(handle.signature !== undefined ? { signature: handle.signature } : {}),
      ...(t.command ? { command: t.command } : {}),
      ...(t.args ? { args: t.args } : {}),
      env: { ...t.env, FLOTILLA_INSTANCE: name },
      ports,
      // in a pod of its own: every address of its namespace, and each port forwarded from the host's (portmap)
      host: network ? '0.0.0.0' : this.addressOf(host),
      ...(network
        ? {
            network: {
              subnet: network.subnet,
              ...(host.spec.cniBinDir !== undefined ? { binDir: host.spec.cniBinDir } : {}),
              portMappings: Object.values(ports).map((p) => ({ hostPort: p, containerPort: p })),
              dns: { search: [network.domain] },
            },
          }
        : {}),
      ...(resources ? { resources } : {}),
      ...(limits ? { limits } : {}),
      restartPolicy: t.restartPolicy ?? 'Always',
      gracePeriodSeconds: t.terminationGracePeriodSeconds ?? 10,
      ...(t.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: t.readOnlyRootFilesystem } : {}),
      ...(host.spec.containerRuntime !== undefined ? { runtime: host.spec.containerRuntime } : {}),
      ...(signal ? { signal } : {}),
    });
    return {
      ...(st.pid !== undefined ? { pid: st.pid } : {}),
      ports: st.ports ?? ports,
      container: factsOf({ ...st, ...(st.push.signedBy !== undefined ? { signedBy: st.push.signedBy } : {}) }),
      ...(st.podIP !== undefined ? { podIP: st.podIP } : {}),
    };
  }

  async stop(host: Host, instance: Instance, gracePeriodMs: number, signal?: AbortSignal): Promise<void> {
    const name = instance.metadata.name;
    if (isContainer(instance)) {
      const m = await loadImageModule();
      // (CNI DEL runs the plugins its ADD ran; the Host's cniBinDir only for a pod whose state does not say)
      await this.#with(host, (c) =>
        m.stopContainer(c, name, { gracePeriodSeconds: Math.ceil(gracePeriodMs / 1000), ...(host.spec.cniBinDir !== undefined ? { cniBinDir: host.spec.cniBinDir } : {}), ...(signal ? { signal } : {}) }),
      );
      this.#podChecks.delete(`${host.metadata.name}/${name}`);
      const mine = this.#assignedPorts.get(host.metadata.name);
      for (const p of Object.values(instance.status?.ports ?? {})) mine?.delete(p);
      const kept = this.#options.imagesKept ?? 3;
      // unused images go, under the host's lock so that no start of this runtime pushes meanwhile
      if (kept !== false)
        await this.#locked(host, () => this.#with(host, (c) => m.gcImages(c, { keepLast: kept }))).catch((e: unknown) => {
          this.#options.onWarning?.(`${host.metadata.name}: could not collect unused images: ${e instanceof Error ? e.message : String(e)}`);
        });
      return;
    }
    await this.#with(host, async (c) => {
      await stopService(c, name, { gracePeriodSeconds: Math.ceil(gracePeriodMs / 1000), runtime: 'supervisor' });
      await removeService(c, name, signal ? { signal } : {});
    });
    const mine = this.#assignedPorts.get(host.metadata.name);
    for (const p of Object.values(instance.status?.ports ?? {})) mine?.delete(p);
  }

  async observe(host: Host, instances: readonly Instance[], signal?: AbortSignal): Promise<Map<string, ObservedInstance>> {
    const containers = instances.filter(isContainer);
    const processes = instances.filter((i) => !isContainer(i));
    // one command per host for each kind present (both over the one ssh connection, at once)
    const [a, b] = await Promise.all([this.#observeProcesses(host, processes, signal), this.#observeContainers(host, containers)]);
    return new Map([...a, ...b]);
  }

  async #observeContainers(host: Host, instances: readonly Instance[]): Promise<Map<string, ObservedInstance>> {
    const out = new Map<string, ObservedInstance>();
    if (instances.length === 0) return out;
    const m = await loadImageModule();
    const statuses = await this.#with(host, (c) => m.containerStatuses(c, instances.map((i) => i.metadata.name)));
    const problems = await this.#checkPods(host, [...statuses.values()].filter((st) => st.podIP !== undefined && st.state !== 'absent').map((st) => st.name));
    for (const [name, st] of statuses) {
      const problem = problems.get(name);
      const reason = st.reason ?? st.lastReason;
      // between a death and the supervisor's restart (its backoff) the host says restarting:
      // the instance is running, without a pid, as a process in its backoff is
      const restarting = st.state === 'restarting';
      out.set(name, {
        state: st.state === 'restarting' ? 'running' : st.state,
        ...(st.pid !== undefined ? { pid: st.pid } : {}),
        restarts: st.restarts,
        ...(st.exitCode !== undefined && !restarting ? { exitCode: st.exitCode } : {}),
        ...(st.ports && Object.keys(st.ports).length > 0 ? { ports: st.ports } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(st.state !== 'absent' ? { container: factsOf(st) } : {}),
        ...(st.podIP !== undefined && st.state !== 'absent' ? { podIP: st.podIP } : {}),
        ...(problem !== undefined ? { networkProblem: problem } : {}),
      });
    }
    return out;
  }

  /**
   * CNI CHECK of the named pods whose last check is older than `podNetworkCheckMs` (at once,
   * over the host's one connection); the problems found by the latest check of each, by name.
   * A check that could not run (the host away) keeps what the one before found.
   */
  async #checkPods(host: Host, names: readonly string[]): Promise<Map<string, string>> {
    const now = (this.#options.now ?? Date.now)();
    const every = this.#options.podNetworkCheckMs ?? 30_000;
    const key = (n: string): string => `${host.metadata.name}/${n}`;
    const due = names.filter((n) => { const last = this.#podChecks.get(key(n)); return last === undefined || now - last.at >= every; });
    await Promise.all(
      due.map(async (n) => {
        try {
          const r = await this.#with(host, (c) => checkPodNetwork(c, n, host.spec.cniBinDir !== undefined ? { binDir: host.spec.cniBinDir } : {}));
          this.#podChecks.set(key(n), r === 'ok' ? { at: now } : { at: now, problem: 'its pod network is gone (CNI CHECK found no attachment)' });
        } catch (e) {
          if (isCommandFailedError(e) || (e instanceof Error && (e as { code?: string }).code === 'cni')) this.#podChecks.set(key(n), { at: now, problem: `CNI CHECK failed: ${e.message}` });
        }
      }),
    );
    const out = new Map<string, string>();
    for (const n of names) {
      const p = this.#podChecks.get(key(n))?.problem;
      if (p !== undefined) out.set(n, p);
    }
    return out;
  }

  async #observeProcesses(host: Host, instances: readonly Instance[], signal?: AbortSignal): Promise<Map<string, ObservedInstance>> {
    const out = new Map<string, ObservedInstance>();
    if (instances.length === 0) return out;
    const seen = await this.#with(host, (c) => observeServices(c, instances.map((i) => i.metadata.name), signal ? { signal } : {}));
    for (const [name, st] of seen) out.set(name, st);
    return out;
  }

  async healthCheck(host: Host, instance: Instance, check: HealthCheck, signal?: AbortSignal): Promise<boolean> {
    const timeoutMs = (check.timeoutSeconds ?? 1) * 1000;
    if (check.http) {
      const port = typeof check.http.port === 'number' ? check.http.port : instance.status?.ports[check.http.port];
      if (port === undefined) return false;
      const timeout = AbortSignal.timeout(timeoutMs);
      try {
        const res = await fetch(`http://${this.addressOf(host)}:${port}${check.http.path}`, {
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        await res.arrayBuffer().catch(() => undefined);
        return res.status >= 200 && res.status < 400;
      } catch {
        return false;
      }
    }
    if (check.exec && isContainer(instance)) {
      const m = await loadImageModule();
      const r = await this.#with(host, (c) => m.execInContainer(c, instance.metadata.name, check.exec!, { timeoutMs }));
      return r.code === 0;
    }
    if (check.exec) {
      const t = instance.spec.template;
      const cwd = isRef(t.artifact) ? artifactReleaseDir(t.artifact.sha256) : undefined;
      const r = await this.#with(host, (c) => c.run(shellJoin(check.exec!), {
        hide: true,
        warn: true,
        timeoutMs,
        env: { ...t.env, HOST: this.addressOf(host), ...Object.fromEntries(Object.entries(instance.status?.ports ?? {}).map(([n, p]) => [portEnvName(n), String(p)])) },
        ...(cwd !== undefined ? { cwd } : {}),
        ...(signal ? { signal } : {}),
      }));
      return r.exitCode === 0;
    }
    return true;
  }

  async restart(host: Host, instance: Instance, signal?: AbortSignal): Promise<void> {
    if (isContainer(instance)) {
      const m = await loadImageModule();
      await this.#with(host, (c) => m.restartContainer(c, instance.metadata.name));
      return;
    }
    await this.#with(host, (c) => signalService(c, instance.metadata.name, signal ? { signal } : {}));
  }

  async writeFile(host: Host, path: string, content: string, signal?: AbortSignal): Promise<void> {
    const dir = posix.dirname(path);
    await this.#with(host, async (c) => {
      if (dir !== '.' && dir !== '') await c.run(`mkdir -p ${shellQuote(dir)}`, { hide: true, ...(signal ? { signal } : {}) });
      await c.writeFile(path, content, { ...(signal ? { signal } : {}) });
    });
  }

  logs(host: Host, instance: Instance, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
    if (isContainer(instance)) return this.#containerLogs(host, instance, options);
    const channel = new Channel<string>();
    const c = this.#connect(host, { onOutput: (line) => channel.push(`${line}\n`), noTimeout: options.follow === true });
    const file = serviceLogPath(instance.metadata.name);
    c.run(options.follow ? `tail -n +1 -f ${file}` : `cat ${file}`, options.signal ? { signal: options.signal } : {})
      .catch(() => undefined)
      .finally(() => {
        channel.close();
        void c.close();
      });
    return channel;
  }

  async *#containerLogs(host: Host, instance: Instance, options: { follow?: boolean; signal?: AbortSignal }): AsyncIterable<string> {
    const m = await loadImageModule();
    const c = this.#connect(host, { noTimeout: options.follow === true });
    try {
      for await (const chunk of m.containerLogs(c, instance.metadata.name, { ...(options.follow ? { follow: true } : {}), ...(options.signal ? { signal: options.signal } : {}) })) yield `${chunk}\n`;
    } finally {
      await c.close();
    }
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    const all = [...this.#connections.values()];
    this.#connections.clear();
    await Promise.all(all.map((x) => x.connection.close()));
  }
}
