/**
 * An in-memory {@link InstanceRuntime} for convergence tests: hosts that answer or not,
 * instances that run, crash, restart per policy and pass or fail health checks, all
 * controllable from the test.
 */
import { ClusterError } from '../errors.js';
import type { HealthCheck, Host, Instance } from '../manifest/types.js';
import type { HostProbe, InstanceRuntime, ObservedInstance, StartedInstance, StartOptions } from '../runtime/types.js';

/** One instance as the fake host sees it. */
export interface FakeProcess {
  name: string;
  host: string;
  state: 'running' | 'exited';
  pid: number;
  restarts: number;
  exitCode?: number;
  ports: Record<string, number>;
  env: Record<string, string>;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  healthy: boolean;
  log: string[];
  /** Containers: the image digest it runs (absent for a process). */
  imageDigest?: string;
  /** Containers: why the last run ended. */
  reason?: 'OOMKilled' | 'Error' | 'Completed';
  /** Containers: run rootless (limits not enforced). */
  rootless?: boolean;
  /** Containers: commands run inside it by exec health checks. */
  execs?: string[][];
  /** Containers started with pod networking: the pod's address (the subnet's 2nd, 3rd, … address, as host-local gives them). */
  podIP?: string;
  /** Containers with pod networking: set it to make the next observe report a failed CNI CHECK. */
  networkProblem?: string;
}

/** Options of {@link FakeRuntime}. */
export interface FakeRuntimeOptions {
  /** Decides whether a newly started instance is healthy (e.g. by its env). @default every instance is healthy */
  healthy?: (instance: Instance) => boolean;
  /** Whether a host runs containers rootless (limits not enforced). @default no host */
  rootless?: (host: Host) => boolean;
  /** The principal a host reports for an image's signature (hosts that require signatures). @default none */
  signedBy?: (host: Host, imageDigest: string) => string | undefined;
  /** Why a host refuses an image (unsigned, tampered…), as the real runtime throws; `undefined` to accept. @default accept */
  refuseImage?: (host: Host, imageDigest: string) => string | undefined;
}

export class FakeRuntime implements InstanceRuntime {
  /** Processes by host, then instance name. */
  readonly hosts = new Map<string, Map<string, FakeProcess>>();
  /** Hosts that do not answer. */
  readonly down = new Set<string>();
  /** Files written with writeFile: `${host}:${path}` → content. */
  readonly files = new Map<string, string>();
  /** Every call, for assertions (`start h1 web-abc`). */
  readonly calls: string[] = [];
  #nextPid = 1000;
  #nextPort = 30000;
  /** The next pod address to give, by subnet. */
  readonly #nextPod = new Map<string, number>();
  readonly #healthy: (instance: Instance) => boolean;
  readonly #options: FakeRuntimeOptions;

  constructor(options: FakeRuntimeOptions = {}) {
    this.#healthy = options.healthy ?? (() => true);
    this.#options = options;
  }

  #host(host: Host): Map<string, FakeProcess> {
    const name = host.metadata.name;
    if (this.down.has(name)) throw new ClusterError('runtime-failed', `host ${name} does not answer`);
    let m = this.hosts.get(name);
    if (!m) {
      m = new Map<string, FakeProcess>();
      this.hosts.set(name, m);
    }
    return m;
  }

  #tryHost(host: Host): Map<string, FakeProcess> | Error {
    try {
      return this.#host(host);
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** Every process on every host. */
  processes(): FakeProcess[] {
    return [...this.hosts.values()].flatMap((m) => [...m.values()]);
  }

  /** Running processes (optionally on one host). */
  running(host?: string): FakeProcess[] {
    return this.processes().filter((p) => p.state === 'running' && (host === undefined || p.host === host));
  }

  /** Kills a container as the kernel's OOM killer would (exit 137, reason OOMKilled); restarted per its policy. */
  oomKill(name: string): void {
    this.kill(name, 137, 'OOMKilled');
  }

  /** Kills an instance's command (as SIGKILL would): the supervisor restarts it per its policy. */
  kill(name: string, exitCode = 137, reason?: 'OOMKilled' | 'Error'): void {
    for (const m of this.hosts.values()) {
      const p = m.get(name);
      if (!p) continue;
      if (p.imageDigest !== undefined) p.reason = reason ?? (exitCode === 0 ? 'Completed' : 'Error');
      if (p.restartPolicy === 'Always' || (p.restartPolicy === 'OnFailure' && exitCode !== 0)) {
        p.restarts++;
        p.pid = this.#nextPid++;
      } else {
        p.state = 'exited';
        p.exitCode = exitCode;
      }
    }
  }

  /** Removes an instance entirely from its host (supervisor and all), as if killed with its supervisor. */
  vanish(name: string): void {
    for (const m of this.hosts.values()) m.delete(name);
  }

  probeHost(host: Host): Promise<HostProbe> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    return Promise.resolve({ load1: 0.1 });
  }

  start(host: Host, instance: Instance, _signal?: AbortSignal, options: StartOptions = {}): Promise<StartedInstance> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    this.calls.push(`start ${host.metadata.name} ${instance.metadata.name}`);
    const existing = m.get(instance.metadata.name);
    if (existing?.state === 'running') return Promise.resolve({ pid: existing.pid, ports: existing.ports, ...this.#facts(host, existing), ...(existing.podIP !== undefined ? { podIP: existing.podIP } : {}) });
    const image = instance.spec.template.image;
    const imageDigest = typeof image === 'object' ? image.digest : undefined;
    if (image !== undefined && imageDigest === undefined) return Promise.reject(new ClusterError('runtime-failed', `image ${JSON.stringify(image)} of ${instance.metadata.name} was not stored by apply`));
    const refusal = imageDigest !== undefined ? this.#options.refuseImage?.(host, imageDigest) : undefined;
    if (refusal !== undefined) return Promise.reject(new ClusterError('runtime-failed', `${host.metadata.name} refused image ${imageDigest}: ${refusal}`));
    const ports: Record<string, number> = {};
    for (const p of instance.spec.template.ports ?? []) ports[p.name] = this.#nextPort++;
    const proc: FakeProcess = {
      name: instance.metadata.name,
      host: host.metadata.name,
      state: 'running',
      pid: this.#nextPid++,
      restarts: 0,
      ports,
      env: { ...instance.spec.template.env },
      restartPolicy: instance.spec.template.restartPolicy ?? 'Always',
      healthy: this.#healthy(instance),
      log: [`started ${instance.metadata.name}`],
      ...(imageDigest !== undefined ? { imageDigest, rootless: this.#options.rootless?.(host) ?? false, execs: [] } : {}),
    };
    if (imageDigest !== undefined && options.network) {
      const { subnet } = options.network;
      const n = (this.#nextPod.get(subnet) ?? 1) + 1;
      this.#nextPod.set(subnet, n);
      const [a, b, c, d] = subnet.split('/')[0]!.split('.').map(Number) as [number, number, number, number];
      const ip = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d + n;
      proc.podIP = [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
    }
    m.set(proc.name, proc);
    return Promise.resolve({ pid: proc.pid, ports, ...this.#facts(host, proc), ...(proc.podIP !== undefined ? { podIP: proc.podIP } : {}) });
  }

  #facts(host: Host, p: FakeProcess): Pick<StartedInstance, 'container'> {
    if (p.imageDigest === undefined) return {};
    const signedBy = this.#options.signedBy?.(host, p.imageDigest);
    return { container: { imageDigest: p.imageDigest, rootless: p.rootless ?? false, limitsEnforced: !(p.rootless ?? false), ...(signedBy !== undefined ? { signedBy } : {}) } };
  }

  stop(host: Host, instance: Instance): Promise<void> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    this.calls.push(`stop ${host.metadata.name} ${instance.metadata.name}`);
    m.delete(instance.metadata.name);
    return Promise.resolve();
  }

  observe(host: Host, instances: readonly Instance[]): Promise<Map<string, ObservedInstance>> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    const out = new Map<string, ObservedInstance>();
    for (const i of instances) {
      const p = m.get(i.metadata.name);
      if (!p) out.set(i.metadata.name, { state: 'absent', restarts: 0 });
      else
        out.set(i.metadata.name, {
          state: p.state,
          ...(p.state === 'running' ? { pid: p.pid } : {}),
          restarts: p.restarts,
          ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}),
          ports: p.ports,
          ...(p.reason !== undefined ? { reason: p.reason } : {}),
          ...this.#facts(host, p),
          ...(p.podIP !== undefined ? { podIP: p.podIP } : {}),
          ...(p.networkProblem !== undefined ? { networkProblem: p.networkProblem } : {}),
        });
    }
    return Promise.resolve(out);
  }

  healthCheck(host: Host, instance: Instance, check: HealthCheck): Promise<boolean> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    const p = m.get(instance.metadata.name);
    if (check.exec && p?.execs) p.execs.push(check.exec);
    return Promise.resolve(p?.state === 'running' && p.healthy);
  }

  restart(host: Host, instance: Instance): Promise<void> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    this.calls.push(`restart ${host.metadata.name} ${instance.metadata.name}`);
    const p = m.get(instance.metadata.name);
    if (p) {
      p.restarts++;
      p.pid = this.#nextPid++;
    }
    return Promise.resolve();
  }

  writeFile(host: Host, path: string, content: string): Promise<void> {
    const m = this.#tryHost(host);
    if (m instanceof Error) return Promise.reject(m);
    this.files.set(`${host.metadata.name}:${path}`, content);
    return Promise.resolve();
  }

  async *logs(host: Host, instance: Instance): AsyncIterable<string> {
    const p = this.#host(host).get(instance.metadata.name);
    await Promise.resolve();
    for (const line of p?.log ?? []) yield `${line}\n`;
  }

  addressOf(host: Host): string {
    return host.spec.address ?? '127.0.0.1';
  }
}
