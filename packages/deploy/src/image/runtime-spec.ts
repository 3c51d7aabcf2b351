/**
 * The OCI runtime bundle's `config.json`, as data: a pure function of the image config and
 * what the instance asks for (DESIGN.md, Containers: "build it as a pure function of image
 * config + template, test it as data, and leave namespaces and cgroups to runc").
 *
 * Defaults follow `runc spec` (and `runc spec --rootless`): pid, ipc, uts and mount
 * namespaces, a user namespace mapping the host user to root when rootless; the host's
 * network (DESIGN: no network namespace unless a Network exists); /proc, /dev, /dev/pts,
 * /dev/shm, /dev/mqueue, /sys (a read-only bind when rootless), /sys/fs/cgroup; runc's masked
 * and read-only paths; three capabilities; `noNewPrivileges`; RLIMIT_NOFILE 1024.
 * Rootful, `resources` become cgroup limits (cpu quota over a 100 ms period, memory limit);
 * rootless, limits are left out (runc must not fail on them) and `limitsEnforced` is false.
 */
import { ImageError } from './errors.js';
import type { ImageConfig } from './oci.js';

/** The part of the OCI runtime spec Flotilla writes (runtime-spec 1.0.2). */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'ambient', string[]>;
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    namespaces: { type: string; path?: string }[];
    /** The container's cgroup (rootful only), e.g. `/flotilla/<id>`: its path names the container in the kernel's OOM reports. */
    cgroupsPath?: string;
    resources?: { memory?: { limit: number }; cpu?: { quota: number; period: number } };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
  /** OCI hooks, run by the runtime with its own privileges in the runtime's namespaces. */
  hooks?: { createRuntime?: { path: string; args?: string[] }[]; poststart?: { path: string; args?: string[] }[] };
}

/** What {@link runtimeSpec} needs. */
export interface RuntimeSpecInput {
  /** The image's config. */
  image: Pick<ImageConfig, 'config'>;
  /** Replaces the image's Entrypoint and Cmd (the template's `command`). */
  command?: readonly string[];
  /** Replaces the image's Cmd (the template's `args`), after `command` or the Entrypoint. */
  args?: readonly string[];
  /** Added to the image's Env; a key given again replaces it (HOST, PORT, PORT_<name>…). */
  env?: Readonly<Record<string, string>>;
  /** The container's hostname (the instance's name). */
  hostname: string;
  /** The rootfs, relative to the bundle. @default 'rootfs' */
  rootfs?: string;
  /**
   * The rootfs is an overlay of the image's top snapshot (`lower`, read-only, shared) with this
   * container's `upper` and `work` directories, mounted by the runtime itself on the empty
   * rootfs as the first mount, in the container's own mount namespace: no mount before the
   * runtime starts, gone when the container ends (the changes stay in `upper`). Absolute paths
   * without `,` or `:` (the overlay's option syntax).
   */
  rootfsOverlay?: { lower: string; upper: string; work: string };
  /** @default false (writable, as Docker's and Kubernetes' are) */
  readOnlyRootFilesystem?: boolean;
  /** Rootless: a user namespace mapping `hostUid`/`hostGid` to root, no cgroup limits. */
  rootless: boolean;
  /** The host user and group mapped to root when rootless. */
  hostUid?: number;
  hostGid?: number;
  /** The image's `User` resolved to ids (see {@link parseImageUser}). @default root */
  user?: { uid: number; gid: number };
  /** Requests/limits: cpu in millicores, memory in bytes. Enforced only rootful. */
  resources?: { cpuMillis?: number; memoryBytes?: number };
  /** The cgroup path runc creates (rootful only; ignored rootless). @default runc's choice */
  cgroupsPath?: string;
  /** `createRuntime` hooks (OCI: run by the runtime, in its namespaces, before the container's process starts). */
  createRuntimeHooks?: { path: string; args?: string[] }[];
  /** `poststart` hooks (OCI: run by the runtime once the container's process has started, before the start returns). */
  poststartHooks?: { path: string; args?: string[] }[];
  /**
   * Pod networking: join this network namespace (made and attached by CNI before the container
   * starts) and bind `resolvConf` (a file on the host) at /etc/resolv.conf. @default the host's network
   */
  network?: { netns: string; resolvConf?: string };
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
/** The cgroup CPU period (µs): a quota of `cpuMillis * 100` µs per 100 ms is `cpuMillis`/1000 cores. */
export const CPU_PERIOD_US = 100_000;

/** The process's argv: `command` (+ `args`) if given, else Entrypoint + (`args` or Cmd), as Docker and Kubernetes do. */
export function containerArgs(image: Pick<ImageConfig, 'config'>, command?: readonly string[], args?: readonly string[]): string[] {
  const c = image.config ?? {};
  if (command !== undefined && command.length > 0) return [...command, ...(args ?? [])];
  return [...(c.Entrypoint ?? []), ...(args ?? c.Cmd ?? [])];
}

/** The image's Env with `add` merged in (same key replaced in place; PATH defaulted). */
export function containerEnv(image: Pick<ImageConfig, 'config'>, add: Readonly<Record<string, string>> = {}): string[] {
  const out = [...(image.config?.Env ?? [])];
  if (!out.some((e) => e.startsWith('PATH='))) out.unshift(DEFAULT_PATH);
  for (const [k, v] of Object.entries(add)) {
    const i = out.findIndex((e) => e.startsWith(`${k}=`));
    if (i >= 0) out[i] = `${k}=${v}`;
    else out.push(`${k}=${v}`);
  }
  return out;
}

/**
 * Resolves an image's `User` (`uid`, `uid:gid`, `name`, `name:group`) against the rootfs's
 * /etc/passwd and /etc/group contents (strings, so this stays pure); `image-invalid` when a
 * name is unknown. Empty means root.
 */
export function parseImageUser(user: string | undefined, files: { passwd?: string; group?: string } = {}): { uid: number; gid: number } {
  if (!user) return { uid: 0, gid: 0 };
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const rows = (text: string | undefined) => (text ?? '').split('\n').map((l) => l.split(':')).filter((r) => r.length >= 3);
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = rows(files.passwd).find((r) => r[2] === u);
    if (row?.[3] !== undefined && /^\d+$/.test(row[3])) gid = Number(row[3]);
  } else {
    const row = rows(files.passwd).find((r) => r[0] === u);
    if (!row || !/^\d+$/.test(row[2]!)) throw new ImageError('image-invalid', `the image's user ${JSON.stringify(u)} is not in its /etc/passwd`, {});
    uid = Number(row[2]);
    gid = row[3] !== undefined && /^\d+$/.test(row[3]) ? Number(row[3]) : undefined;
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = rows(files.group).find((r) => r[0] === g);
      if (!row || !/^\d+$/.test(row[2]!)) throw new ImageError('image-invalid', `the image's group ${JSON.stringify(g)} is not in its /etc/group`, {});
      gid = Number(row[2]);
    }
  }
  return { uid, gid: gid ?? 0 };
}

/** The fields of a container request (the host program's `PrepareRequest`) that shape its runtime spec. */
export interface ContainerSpecRequest {
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  hostname: string;
  readOnlyRootFilesystem: boolean;
  rootless: boolean;
  hostUid: number;
  hostGid: number;
  resources?: { cpuMillis?: number; memoryBytes?: number };
  cgroupsPath?: string;
  /** A `createRuntime` hook (rootful through sudo: the owners of the rootfs). */
  ownersHook?: { path: string; args: string[] };
  /** A `poststart` hook that tells the launch the container runs (see container-sh.ts, STARTED_HOOK_SCRIPT). */
  startedHook?: { path: string; args: string[] };
  network?: { netns: string; resolvConf?: string };
  /** The rootfs as an overlay the runtime mounts (see {@link RuntimeSpecInput.rootfsOverlay}). */
  rootfsOverlay?: { lower: string; upper: string; work: string };
}

/**
 * {@link runtimeSpec} of a container request: the one mapping from a request to the spec, used
 * by the host program and by the fast path that prepares a container without it.
 */
export function requestRuntimeSpec(image: Pick<ImageConfig, 'config'>, req: ContainerSpecRequest, user: { uid: number; gid: number } | undefined): { spec: RuntimeSpec; limitsEnforced: boolean } {
  return runtimeSpec({
    image,
    ...(req.command ? { command: req.command } : {}),
    ...(req.args ? { args: req.args } : {}),
    env: req.env,
    hostname: req.hostname,
    readOnlyRootFilesystem: req.readOnlyRootFilesystem,
    rootless: req.rootless,
    hostUid: req.hostUid,
    hostGid: req.hostGid,
    ...(user ? { user } : {}),
    ...(req.resources ? { resources: req.resources } : {}),
    ...(req.cgroupsPath ? { cgroupsPath: req.cgroupsPath } : {}),
    ...(req.ownersHook ? { createRuntimeHooks: [req.ownersHook] } : {}),
    ...(req.startedHook ? { poststartHooks: [req.startedHook] } : {}),
    ...(req.network ? { network: req.network } : {}),
    ...(req.rootfsOverlay ? { rootfsOverlay: req.rootfsOverlay } : {}),
  });
}

/** Builds `config.json` (see the module's rules); `limitsEnforced` says whether resources became cgroup limits. */
export function runtimeSpec(input: RuntimeSpecInput): { spec: RuntimeSpec; limitsEnforced: boolean } {
  const args = containerArgs(input.image, input.command, input.args);
  if (args.length === 0) throw new ImageError('image-invalid', 'the image has no Entrypoint or Cmd and the template gives no command: nothing to run', {});
  if (!input.hostname) throw new TypeError('Expected `hostname` to be a non-empty string');
  const user = input.user ?? { uid: 0, gid: 0 };
  const mounts: RuntimeSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(input.rootless ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    input.rootless
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
  // The runtime mounts the overlay on the (empty) rootfs first, in the container's own mount
  // namespace; every other mount lands on it.
  if (input.rootfsOverlay) {
    const o = input.rootfsOverlay;
    for (const [k, v] of Object.entries(o)) if (!v.startsWith('/') || /[,:\n]/.test(v)) throw new TypeError(`Expected rootfsOverlay.${k} to be an absolute path without ",", ":" or newlines, got ${JSON.stringify(v)}`);
    mounts.unshift({ destination: '/', type: 'overlay', source: 'overlay', options: [`lowerdir=${o.lower}`, `upperdir=${o.upper}`, `workdir=${o.work}`] });
  }
  if (input.network?.resolvConf) mounts.push({ destination: '/etc/resolv.conf', type: 'none', source: input.network.resolvConf, options: ['bind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...(input.rootless ? [{ type: 'user' }] : [])];
  if (input.network) namespaces.push({ type: 'network', path: input.network.netns });
  const linux: RuntimeSpec['linux'] = {
    namespaces,
    maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],
    readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  };
  if (input.rootless) {
    linux.uidMappings = [{ containerID: 0, hostID: input.hostUid ?? 0, size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: input.hostGid ?? 0, size: 1 }];
  }
  const r = input.resources ?? {};
  const limitsEnforced = !input.rootless;
  if (!input.rootless && input.cgroupsPath !== undefined) linux.cgroupsPath = input.cgroupsPath;
  if (limitsEnforced && (r.memoryBytes !== undefined || r.cpuMillis !== undefined)) {
    linux.resources = {
      ...(r.memoryBytes !== undefined ? { memory: { limit: r.memoryBytes } } : {}),
      ...(r.cpuMillis !== undefined ? { cpu: { quota: Math.max(1000, Math.round(r.cpuMillis * (CPU_PERIOD_US / 1000))), period: CPU_PERIOD_US } } : {}),
    };
  }
  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid },
      args,
      env: containerEnv(input.image, input.env),
      cwd: input.image.config?.WorkingDir || '/',
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS], ambient: [...CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs ?? 'rootfs', readonly: input.readOnlyRootFilesystem ?? false },
    hostname: input.hostname,
    mounts,
    linux,
    ...(input.createRuntimeHooks?.length || input.poststartHooks?.length
      ? {
          hooks: {
            ...(input.createRuntimeHooks?.length ? { createRuntime: input.createRuntimeHooks.map((h) => ({ ...h })) } : {}),
            ...(input.poststartHooks?.length ? { poststart: input.poststartHooks.map((h) => ({ ...h })) } : {}),
          },
        }
      : {}),
  };
  return { spec, limitsEnforced };
}
