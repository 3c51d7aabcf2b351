/**
 * The seam between the controllers and the hosts: start, stop, observe and health-check
 * instances on a host. `DeployRuntime` implements it over @flotilla/deploy (ssh or the
 * local transport); `FakeRuntime` (`./testing`) in memory for convergence tests.
 */
import type { HealthCheck, Host, Instance } from '../manifest/types.js';

/** What runs on a host for one instance, as the host itself reports it. */
export interface ObservedInstance {
  /** `running`: the supervisor and the command are up; `exited`: the command ended and will not be restarted; `absent`: nothing is known on the host. */
  state: 'running' | 'exited' | 'absent';
  /** Process id of the instance's own command (not its supervisor's). */
  pid?: number;
  /** How many times the supervisor restarted the command. */
  restarts: number;
  /** The last exit code, when the command has exited. */
  exitCode?: number;
  /** Ports the instance was started with. */
  ports?: Record<string, number>;
  /** Containers: why the last run ended (`OOMKilled` when the kernel's OOM killer killed it). */
  reason?: 'OOMKilled' | 'Error' | 'Completed';
  /** Containers: the facts of how it runs (see {@link ContainerFacts}). */
  container?: ContainerFacts;
  /** Containers with pod networking: the address in the host's pod subnet. */
  podIP?: string;
  /**
   * Containers with pod networking: what the last CNI CHECK of the pod's attachment found
   * broken (the instance is then not ready, so it leaves every VIP); absent when it passed.
   */
  networkProblem?: string;
}

/** How a container runs on its host (reported by start and observe; absent for a process). */
export interface ContainerFacts {
  /** The image's manifest digest it runs. */
  imageDigest?: string;
  /** The principal whose signature the host checked, when it requires signatures. */
  signedBy?: string;
  /** Run without root (a user namespace): isolated, but `resources`/`limits` are not enforced. */
  rootless: boolean;
  /** Whether `resources`/`limits` are cgroup limits. */
  limitsEnforced: boolean;
}

/** What a host reports when probed. */
export interface HostProbe {
  /** 1-minute load average. */
  load1?: number;
}

/** Result of starting an instance. */
export interface StartedInstance {
  pid?: number;
  ports: Record<string, number>;
  /** Containers with pod networking: the address CNI ADD gave the pod. */
  podIP?: string;
  /** Containers: how it runs (image digest, signer, rootless, limits). */
  container?: ContainerFacts;
}

/**
 * A host's pod network, for a container started while a Network exists (DESIGN.md
 * "Networking and services"): the container gets a network namespace of its own attached to
 * the host's pod subnet by CNI ADD (DEL when it stops; CHECK when observed).
 */
export interface PodNetworkContext {
  /** The host's lease from the Network's podCIDR (`status.podSubnet`). */
  subnet: string;
  /** The Network's DNS domain: the `search` domain of the pod's resolv.conf. */
  domain: string;
}

/** Options of {@link InstanceRuntime.start}. */
export interface StartOptions {
  /** Pod networking for a container (ignored for a process, which shares its host's network). */
  network?: PodNetworkContext;
}

/**
 * Runs instances on hosts. Every method may throw when the host cannot be reached; the
 * controllers then retry (and the host controller marks the host NotReady after its
 * grace period).
 */
export interface InstanceRuntime {
  /** Checks the host answers; returns its load. Throws when it does not. */
  probeHost(host: Host, signal?: AbortSignal): Promise<HostProbe>;
  /**
   * Starts the instance under a supervisor that applies its restart policy: uploads the
   * artifact once per host (content-addressed), picks a free port per declared port, sets
   * `HOST`, `PORT` and `PORT_<name>`. A template with an `image` runs as a container: the
   * host receives only the image's blobs it lacks, then runc (or crun) runs it. Idempotent
   * for an instance already running (a running container is adopted, never duplicated).
   * With `options.network`, a container gets its own network namespace on the host's pod
   * subnet (CNI ADD), listens on all of its addresses there, and each of its ports is also
   * forwarded from the same port on the host's address (CNI portmap), where health checks go.
   */
  start(host: Host, instance: Instance, signal?: AbortSignal, options?: StartOptions): Promise<StartedInstance>;
  /** Stops the instance gracefully (SIGTERM, then SIGKILL after `gracePeriodMs`) and removes its files. Idempotent. */
  stop(host: Host, instance: Instance, gracePeriodMs: number, signal?: AbortSignal): Promise<void>;
  /** Observes every instance named, in one round trip to the host. */
  observe(host: Host, instances: readonly Instance[], signal?: AbortSignal): Promise<Map<string, ObservedInstance>>;
  /** Runs one health check; true when healthy. A container's `exec` check runs inside the container. */
  healthCheck(host: Host, instance: Instance, check: HealthCheck, signal?: AbortSignal): Promise<boolean>;
  /** Restarts the command of a running instance (liveness failure). */
  restart(host: Host, instance: Instance, signal?: AbortSignal): Promise<void>;
  /** Writes a file (relative to the host's home or directory) atomically. */
  writeFile(host: Host, path: string, content: string, signal?: AbortSignal): Promise<void>;
  /** The instance's log: what it has written so far, then (with `follow`) what it writes next. */
  logs(host: Host, instance: Instance, options?: { follow?: boolean; signal?: AbortSignal }): AsyncIterable<string>;
  /** The address clients use to reach an instance on this host. */
  addressOf(host: Host): string;
}
