/**
 * Why this file is long (about 890 lines): probe, push, prepare, launch and status parsing are
 * one wire protocol with the host (the script names, exit codes such as FAST_PATH_UNAVAILABLE and
 * NEEDS_PROBE, the per-connection fact cache); split across files, that protocol would have no
 * single place. The host's half is `../host/`.
 *
 * Containers on a host, over any {@link Connection} (ssh, or the local transport): the
 * runtime seam of DESIGN.md's three (content store → snapshotter → runner).
 *
 * `runContainer` pushes the image (only the blobs the host lacks, checked there; signatures
 * checked there), has the host prepare a bundle (the host program `image-host.mjs`, run with
 * the host's `node`: layers unpacked once per chain ID, the rootfs an overlay of the top
 * snapshot — a copy only where no overlay can be mounted —
 * `config.json` from {@link runtimeSpec}), and only then replaces a running previous version:
 * bad input (a tampered blob, an escaping layer, a wrong architecture, a missing runtime, an
 * unsigned image where signatures are required) is refused before anything running is touched.
 * The container runs as `runc run` in the foreground under the sh supervisor of `../runtime.ts`
 * (restart policy with backoff, log file, SIGTERM then SIGKILL after the grace period), so it
 * outlives the caller and a later process adopts it by name.
 *
 * Guarantees:
 * - **Idempotent.** The same name, image digest and options while running is a no-op.
 * - **Rootful or rootless, said.** Rootful (the host user is root, or may run the runtime via
 *   `sudo -n`): cgroup limits from `resources`/`limits`, `limitsEnforced: true`, an OOM kill
 *   reported as `reason: 'OOMKilled'`. Rootless: a user namespace, no limits, `limitsEnforced: false`.
 * - **One round trip** for the statuses of many containers on a host.
 * - **Every error names the host** (and the image and blob where it concerns them).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { shellJoin, shellQuote } from '../quote.js';
import { LOG_MAX_BYTES } from '../runtime.js';
import { CONTAINER_SH_LIB, CONTAINER_SUPERVISOR_SCRIPT, OWNERS_HOOK_SCRIPT, STARTED_HOOK_SCRIPT } from './container-sh.js';
import type { FileContentStore } from './content-store.js';
import { COMMIT_REFUSED, HOST_IMAGES_DIR, checkImageSignatureOnHost, commitRefusal, commitScript, imageBlobs, sendBlobs, type HostSignatureCheck, type PushResult } from './distribute.js';
import { ImageError, isImageError } from './errors.js';
import type { PrepareRequest } from './host-main.js';
import { parseImageUser, requestRuntimeSpec } from './runtime-spec.js';
import { attachPodNetwork, detachPodNetwork, podResolvConf, type PodAttachment } from '../network/pod-network.js';
import { subnetAddress } from '../network/routes.js';
import { chainIds } from './snapshots.js';
import { stepTracer } from './trace.js';
import type { Image } from './load.js';

/** How to run a container (see {@link runContainer}). */
export interface ContainerOptions {
  /** The container's id on the host and its hostname: letters, digits, `.`, `_`, `-` (at most 63). */
  name: string;
  /** The image, from `loadImage(ref, { store })`. */
  image: Image;
  /** The local content store holding the image's blobs (what `loadImage` ingested into). */
  store: FileContentStore;
  /** The image's signature file. @default `<archive>.sig` when it exists (as {@link pushImage}) */
  signature?: string;
  /** Replaces the image's Entrypoint and Cmd. */
  command?: string[];
  /** Replaces the image's Cmd. */
  args?: string[];
  /** Added to the image's Env (HOST, PORT and PORT_<NAME> are set from `host` and `ports`). */
  env?: Record<string, string>;
  /** Ports chosen by the caller: PORT is the first, PORT_<NAME> each (name upper-cased, other characters `_`). */
  ports?: Record<string, number>;
  /** The value of HOST in the container. @default unset */
  host?: string;
  /** Requests: cpu in cores, memory in bytes. Cgroup limits when rootful. */
  resources?: { cpu?: number; memory?: number };
  /** Limits above the requests (rootful). @default the requests */
  limits?: { cpu?: number; memory?: number };
  /** @default 'Always' */
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  /** Seconds between SIGTERM and SIGKILL on stop. @default 10 */
  gracePeriodSeconds?: number;
  /** The output log (`flo logs`) is rotated to `log.1` past this size, as a process's is; 0 never. @default 10 MiB */
  logMaxBytes?: number;
  /** @default false (writable, as Docker's and Kubernetes' are) */
  readOnlyRootFilesystem?: boolean;
  /** `runc` or `crun`, a name on the host's PATH or a path. @default runc, else crun, on PATH (and /usr/sbin, /sbin) */
  runtime?: string;
  /** The host's Node.js (>= 20), which prepares bundles there: a name on its PATH or a path. @default 'node' */
  node?: string;
  /**
   * Keep the host program resident on the host between calls (the *host helper*: one Node
   * process per host user, started in the background after a start that needed the host
   * program, reached over the ssh connection's streamlocal forwarding, idle exit after
   * {@link HOST_HELPER_IDLE_SECONDS}): a later update whose layers are new there is prepared
   * without starting Node again. The helper checks exactly what the program does. Where the
   * transport cannot reach a Unix socket, or the host refuses the forwarding, the program is
   * started per call as without it. @default true
   */
  hostHelper?: boolean;
  /**
   * Pod networking (only when the host has a Network; without it the container shares the host's
   * network, as before): the container gets the network namespace `/run/netns/flo-<name>`,
   * attached by CNI (`bridge` + `host-local` + `portmap`, see `@flotilla/deploy/network`) before
   * it starts, kept across new versions, deleted (CNI DEL) by {@link stopContainer}; its
   * /etc/resolv.conf points at `dns.nameserver` (default: the bridge address, where the host's DNS
   * answers) with `search` domains. Needs root or passwordless sudo on the host. `podIP` is in the status.
   */
  network?: ContainerNetwork;
  signal?: AbortSignal;
}

/** A container's pod network (see {@link ContainerOptions.network}). */
export interface ContainerNetwork {
  /** The host's pod subnet (its lease from the Network's podCIDR). */
  subnet: string;
  /** Where the CNI plugins are (Host `spec.cniBinDir`). @default '/usr/lib/cni' */
  binDir?: string;
  /** Host ports forwarded to the container (portmap). */
  portMappings?: { hostPort: number; containerPort: number; protocol?: 'tcp' | 'udp' }[];
  /** The DNS the container's resolv.conf names: `nameserver` (default the bridge address) and `search` (e.g. the Network's domain). */
  dns?: { nameserver?: string; search?: string[] };
}

/** A container's state on its host. */
export interface ContainerStatus {
  name: string;
  /**
   * `restarting`: its last run ended and its supervisor starts it again after a backoff, per
   * the restart policy (no pid meanwhile; `lastExitCode`/`lastReason` say how the run ended).
   */
  state: 'running' | 'restarting' | 'exited' | 'absent';
  /** The container's first process as the host sees it (`runc state`), while running. */
  pid?: number;
  /** Restarts by the supervisor since the container was (re)started by Flotilla. */
  restarts: number;
  /** Of the last run, when state is `exited`. */
  exitCode?: number;
  /** Why the last run ended, when state is `exited`. */
  reason?: 'OOMKilled' | 'Error' | 'Completed';
  /** Of the previous run when one ended (also while running again after a restart). */
  lastExitCode?: number;
  lastReason?: 'OOMKilled' | 'Error' | 'Completed';
  rootless: boolean;
  limitsEnforced: boolean;
  imageDigest?: string;
  /** The principal whose signature the host checked (hosts with `allowed_signers`). */
  signedBy?: string;
  ports?: Record<string, number>;
  /** The runtime's path on the host. */
  runtime?: string;
  /** The container's address on its host's pod subnet, with pod networking. */
  podIP?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOST_ARCH: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64', armv7l: 'arm', armv6l: 'arm', i686: '386', i386: '386', ppc64le: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a container name of letters, digits, ".", "_" and "-" (at most 63, starting with a letter or digit)', name);
}

let program: Promise<{ text: string; hash: string }> | undefined;

/** The part of esbuild's API used to bundle the host program from source. */
interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

/**
 * The host program's text: `dist/host/image-host.mjs` beside the built module; from source
 * (tests), bundled on the fly with esbuild (a build-time tool of this repository).
 */
export function hostProgram(): Promise<{ text: string; hash: string }> {
  program ??= (async () => {
    const here = fileURLToPath(import.meta.url);
    let text: string;
    if (here.endsWith('.ts')) {
      const specifier = 'esbuild';
      const esbuild = (await import(/* @vite-ignore */ specifier)) as EsbuildLike;
      const out = await esbuild.build({
        entryPoints: [join(dirname(here), 'host-main.ts')],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        write: false,
        logLevel: 'silent',
        banner: { js: HOST_BANNER },
      });
      text = out.outputFiles[0]!.text;
    } else {
      text = await readFile(join(dirname(here), 'host', 'image-host.mjs'), 'utf8');
    }
    return { text, hash: createHash('sha256').update(text).digest('hex').slice(0, 16) };
  })();
  program.catch(() => (program = undefined));
  return program;
}

/** The banner the host program is bundled with (CommonJS dependencies need a `require`). */
export const HOST_BANNER = 'import { createRequire as __floCreateRequire } from "node:module"; const require = __floCreateRequire(import.meta.url);';

function scriptName(base: string, text: string): string {
  return `${base}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}
const SUPERVISE = scriptName('flotilla-ctr-supervise', CONTAINER_SUPERVISOR_SCRIPT);

/** What one round trip learns about a host (and one container on it). */
interface Probe {
  uid: number;
  gid: number;
  home: string;
  arch: string;
  runtime: string;
  mode: 'root' | 'sudo' | 'rootless';
  runcRoot: string;
  /** Rootless and the host can run runc as root of a user namespace of its own (unshare, nsenter): the rootfs is an overlay, not a copy. */
  userns: boolean;
  /** An unprivileged overlay mounts there (in a user namespace of the user's): the runtime mounts the rootfs itself. */
  ovl: boolean;
  node: string;
  nodeVersion: string;
  present: Set<string>;
  /** Hex digests of the blobs asked about that the host's store lacks. */
  lacks: Set<string>;
  /** The host has ~/.flotilla/allowed_signers. */
  signers: boolean;
  /** The image's top layer snapshot is on the host. */
  snapshot: boolean;
  /** The host helper's socket (of this program version) exists; whether anything listens there is the connect's to find out. */
  helper: boolean;
  /** The probe started the host helper (in the background; it may not listen yet). */
  helperStarted: boolean;
  kmsg: string;
  status: ParsedStatus | undefined;
}

interface ParsedStatus {
  status: ContainerStatus;
  meta: Record<string, unknown> | undefined;
}

const EXTRA_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH';

/** The host facts that do not change between calls (cached per Connection, runtime and node). */
const STATIC_FACTS = ['uid', 'gid', 'home', 'arch', 'runtime', 'mode', 'runcRoot', 'kmsg', 'node', 'userns', 'ovl'] as const;
const factCache = new WeakMap<Connection, Map<string, Map<string, string>>>();

function probeScript(name: string, runtime: string | undefined, files: readonly string[], node: string, cached: boolean, blobs: readonly string[], snapshot: string | undefined, startHelper: boolean): string {
  return [EXTRA_PATH, CONTAINER_SH_LIB, ...probeLines(name, runtime, files, node, cached, blobs, snapshot, startHelper)].join('\n');
}

/** The probe's lines (after EXTRA_PATH and CONTAINER_SH_LIB): facts unless cached, files, blobs, snapshot, the container's status. */
function probeLines(name: string, runtime: string | undefined, files: readonly string[], node: string, cached: boolean, blobs: readonly string[], snapshot: string | undefined, startHelper: boolean): string[] {
  const facts = [
    `rt_given=${shellQuote(runtime ?? '')}`,
    'echo "uid $(id -u)"; echo "gid $(id -g)"; echo "home $HOME"; echo "arch $(uname -m)"',
    'if [ -n "$rt_given" ]; then r=$(command -v "$rt_given" 2>/dev/null); else r=$(command -v runc 2>/dev/null || command -v crun 2>/dev/null); fi',
    'echo "runtime $r"',
    'if [ "$(id -u)" = 0 ]; then mode=root; elif [ -n "$r" ] && sudo -n "$r" --version >/dev/null 2>&1; then mode=sudo; else mode=rootless; fi',
    'echo "mode $mode"',
    'if [ "$mode" = rootless ]; then',
    '  if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ] && [ -w "$XDG_RUNTIME_DIR" ]; then root="$XDG_RUNTIME_DIR/flotilla-runc"; else root="$HOME/.flotilla/run/runc"; fi',
    'else root="/run/flotilla/runc/u$(id -u)-$(printf %s "$HOME" | cksum | cut -d" " -f1)"; fi',
    'echo "runcRoot $root"',
    'if [ "$mode" = root ]; then k=dmesg; elif [ "$mode" = sudo ] && sudo -n dmesg >/dev/null 2>&1; then k="sudo -n dmesg"; else k=; fi',
    'echo "kmsg $k"',
    'if [ "$mode" = rootless ] && command -v nsenter >/dev/null 2>&1 && unshare --user --map-root-user --mount true 2>/dev/null; then echo "userns 1"',
    // Unprivileged overlayfs (Linux >= 5.11): then the runtime mounts the rootfs (no mount process per start).
    '  o=$(mktemp -d 2>/dev/null) && mkdir "$o/l" "$o/u" "$o/w" "$o/m" && unshare --user --map-root-user --mount mount -t overlay overlay -o "lowerdir=$o/l,upperdir=$o/u,workdir=$o/w" "$o/m" 2>/dev/null && echo "ovl 1"',
    '  [ -z "$o" ] || { chmod -R u+rwx "$o" 2>/dev/null; rm -rf "$o"; }',
    'fi',
    `n=$(command -v ${shellQuote(node)} 2>/dev/null); echo "node $n"`,
  ];
  return [
    ...(cached ? [] : facts),
    `for f in ${files.map(shellQuote).join(' ')}; do [ -f "$HOME/.flotilla/bin/$f" ] && echo "present $f"; done`,
    `[ -S "$HOME/${helperSocket(files[0]!)}" ] && echo "helper 1"`,
    // The image's top snapshot is missing, so the bundle needs the host program: its helper is
    // started now (when the program is installed and none has a socket), to be up by the time
    // the blobs have arrived.
    ...(startHelper && snapshot
      ? [
          `hs="$HOME/${helperSocket(files[0]!)}"; if [ ! -S "$hs" ] && [ ! -d "$HOME/.flotilla/snapshots/${snapshot}" ] && [ \${#hs} -le ${HELPER_SOCKET_MAX} ] && [ -f "$HOME/.flotilla/bin/${files[0]!}" ]; then`,
          `  n=$(command -v ${shellQuote(node)} 2>/dev/null); [ -z "$n" ] || { ${startHelperLine('"$n"', files[0]!, '"$hs"')}; echo "helperStarted 1"; }`,
          'fi',
        ]
      : []),
    `if [ ! -f "$HOME/.flotilla/bin/${files[0]!}" ]; then n=$(command -v ${shellQuote(node)} 2>/dev/null); [ -n "$n" ] && echo "nodeVersion $("$n" --version 2>/dev/null)"; fi`,
    '[ -f "$HOME/.flotilla/allowed_signers" ] && echo "signers 1"',
    ...(snapshot ? [`[ -d "$HOME/.flotilla/snapshots/${snapshot}" ] && echo "snapshot 1"`] : []),
    // Blobs it lacks, and then the store ready to receive them (sent to ingest/, committed from there).
    ...(blobs.length
      ? [
          `l=; for h in ${blobs.map(shellQuote).join(' ')}; do [ -f "$HOME/${HOST_IMAGES_DIR}/blobs/sha256/$h" ] || { echo "lacks $h"; l=1; }; done`,
          `[ -z "$l" ] || { mkdir -p "$HOME/${HOST_IMAGES_DIR}/blobs/sha256" "$HOME/${HOST_IMAGES_DIR}/ingest"; [ -f "$HOME/${HOST_IMAGES_DIR}/oci-layout" ] || printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$HOME/${HOST_IMAGES_DIR}/oci-layout"; }`,
        ]
      : []),
    `ctr_status ${shellQuote(name)}`,
  ];
}

function parseProbe(stdout: string, cachedFacts?: Map<string, string>): Probe & { facts: Map<string, string> } {
  const [head, ...blocks] = stdout.split(/^@@ /m);
  const kv = new Map<string, string>(cachedFacts ?? []);
  const present = new Set<string>();
  const lacks = new Set<string>();
  for (const line of head!.split('\n')) {
    const i = line.indexOf(' ');
    const k = i < 0 ? line : line.slice(0, i);
    const v = i < 0 ? '' : line.slice(i + 1);
    if (k === 'present') present.add(v);
    else if (k === 'lacks') lacks.add(v);
    else if (k) kv.set(k, v);
  }
  const mode = kv.get('mode');
  return {
    uid: Number(kv.get('uid')),
    gid: Number(kv.get('gid')),
    home: kv.get('home') ?? '',
    arch: kv.get('arch') ?? '',
    runtime: kv.get('runtime') ?? '',
    mode: mode === 'root' || mode === 'sudo' ? mode : 'rootless',
    runcRoot: kv.get('runcRoot') ?? '',
    userns: mode !== 'root' && mode !== 'sudo' && kv.get('userns') === '1',
    ovl: kv.get('ovl') === '1',
    node: kv.get('node') ?? '',
    nodeVersion: kv.get('nodeVersion') ?? '',
    present,
    lacks,
    signers: kv.get('signers') === '1',
    snapshot: kv.get('snapshot') === '1',
    helper: kv.get('helper') === '1',
    helperStarted: kv.get('helperStarted') === '1',
    facts: new Map(STATIC_FACTS.map((k) => [k, kv.get(k) ?? ''])),
    kmsg: kv.get('kmsg') ?? '',
    status: blocks[0] === undefined ? undefined : parseStatusBlock(`@@ ${blocks[0]}`),
  };
}

function asReason(s: string | undefined): ContainerStatus['reason'] {
  return s === 'OOMKilled' || s === 'Error' || s === 'Completed' ? s : undefined;
}

/** Parses one `ctr_status` block. */
function parseStatusBlock(block: string): ParsedStatus {
  const lines = block.split('\n');
  const name = lines[0]!.replace(/^@@ /, '').trim();
  const kv = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(' ');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
    else if (line) kv.set(line, '');
  }
  const metaText = kv.get('meta');
  if (metaText === undefined) return { status: { name, state: 'absent', restarts: 0, rootless: false, limitsEnforced: false }, meta: undefined };
  let meta: Record<string, unknown> = {};
  try {
    meta = JSON.parse(metaText) as Record<string, unknown>;
  } catch {
    /* being written: the fields below stay unknown */
  }
  let runc: { status?: string; pid?: number } = {};
  try {
    const t = kv.get('runc');
    if (t) runc = JSON.parse(t) as { status?: string; pid?: number };
  } catch {
    /* no state */
  }
  const init = Number(kv.get('init'));
  if (init > 0) runc = { status: 'running', pid: init };
  const running = runc.status === 'running' || runc.status === 'paused' || runc.status === 'created';
  const restarting = !running && kv.get('sup') === '1' && kv.get('sstate') === 'backoff';
  const [code, why] = (kv.get('exit') ?? '').trim().split(' ');
  const exitCode = code !== undefined && /^\d+$/.test(code) ? Number(code) : undefined;
  const reason = asReason(why);
  const status: ContainerStatus = {
    name,
    state: running ? 'running' : restarting ? 'restarting' : 'exited',
    restarts: Number(kv.get('restarts')) || 0,
    rootless: meta.rootless === true,
    limitsEnforced: meta.limitsEnforced === true,
    ...(running && typeof runc.pid === 'number' && runc.pid > 0 ? { pid: runc.pid } : {}),
    ...(!running && !restarting && exitCode !== undefined ? { exitCode } : {}),
    ...(!running && !restarting && reason ? { reason } : {}),
    ...(exitCode !== undefined ? { lastExitCode: exitCode } : {}),
    ...(reason ? { lastReason: reason } : {}),
    ...(typeof meta.imageDigest === 'string' ? { imageDigest: meta.imageDigest } : {}),
    ...(typeof meta.signedBy === 'string' ? { signedBy: meta.signedBy } : {}),
    ...(meta.ports && typeof meta.ports === 'object' ? { ports: meta.ports as Record<string, number> } : {}),
    ...(typeof meta.runtime === 'string' ? { runtime: meta.runtime } : {}),
    ...(typeof meta.podIP === 'string' ? { podIP: meta.podIP } : {}),
  };
  return { status, meta };
}

function parseStatuses(stdout: string): Map<string, ParsedStatus> {
  const out = new Map<string, ParsedStatus>();
  for (const b of stdout.split(/^(?=@@ )/m)) {
    if (!b.startsWith('@@ ')) continue;
    const p = parseStatusBlock(b);
    out.set(p.status.name, p);
  }
  return out;
}

function portEnv(ports: Record<string, number> | undefined, host: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (host !== undefined) env.HOST = host;
  const entries = Object.entries(ports ?? {});
  if (entries.length) env.PORT = String(entries[0]![1]);
  for (const [n, p] of entries) env[`PORT_${n.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = String(p);
  return env;
}

function validate(o: ContainerOptions): void {
  if (typeof o !== 'object' || o === null) badOption('options', 'a ContainerOptions object', o);
  checkName(o.name);
  if (!o.image || typeof o.image !== 'object' || typeof o.image.digest !== 'string') badOption('image', 'an Image from loadImage()', o.image);
  if (!o.store || typeof o.store.blobPath !== 'function') badOption('store', 'the FileContentStore the image was loaded into', o.store);
  for (const k of ['command', 'args'] as const) {
    const v = o[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((a) => typeof a !== 'string'))) badOption(k, 'an array of strings', v);
  }
  for (const [k, v] of Object.entries(o.env ?? {})) if (typeof v !== 'string' || k === '' || k.includes('=')) badOption(`env.${k}`, 'a string value and a name without "="', v);
  for (const [k, v] of Object.entries(o.ports ?? {})) if (!Number.isInteger(v) || v < 1 || v > 65535) badOption(`ports.${k}`, 'a port number (1-65535)', v);
  for (const which of ['resources', 'limits'] as const) {
    const r = o[which];
    if (r?.cpu !== undefined && (typeof r.cpu !== 'number' || !(r.cpu > 0))) badOption(`${which}.cpu`, 'a number of cores > 0', r.cpu);
    if (r?.memory !== undefined && (!Number.isInteger(r.memory) || r.memory < 1 << 20)) badOption(`${which}.memory`, 'a number of bytes >= 1 MiB', r.memory);
  }
  if (o.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(o.restartPolicy)) badOption('restartPolicy', "'Always', 'OnFailure' or 'Never'", o.restartPolicy);
  if (o.gracePeriodSeconds !== undefined && (!Number.isInteger(o.gracePeriodSeconds) || o.gracePeriodSeconds < 0)) badOption('gracePeriodSeconds', 'an integer >= 0', o.gracePeriodSeconds);
  if (o.logMaxBytes !== undefined && (!Number.isInteger(o.logMaxBytes) || o.logMaxBytes < 0)) badOption('logMaxBytes', 'an integer number of bytes >= 0 (0: never rotate)', o.logMaxBytes);
  if (o.node !== undefined && (typeof o.node !== 'string' || o.node === '')) badOption('node', "the host's node: a name on its PATH or a path", o.node);
  if (o.hostHelper !== undefined && typeof o.hostHelper !== 'boolean') badOption('hostHelper', 'true or false', o.hostHelper);
  if (o.runtime !== undefined && (typeof o.runtime !== 'string' || !/^[^\s'"]+$/.test(o.runtime))) badOption('runtime', 'a runtime name or path without spaces or quotes (runc, crun, /usr/sbin/runc)', o.runtime);
}

/** A hash of what makes a container what it is (besides its image), to tell "the same" from "changed". */
function optionsHash(o: ContainerOptions): string {
  const v = {
    command: o.command, args: o.args, env: o.env, ports: o.ports, host: o.host, resources: o.resources, limits: o.limits,
    restartPolicy: o.restartPolicy ?? 'Always', grace: o.gracePeriodSeconds ?? 10, logMax: o.logMaxBytes, ro: o.readOnlyRootFilesystem ?? false, runtime: o.runtime,
    ...(o.network ? { network: o.network } : {}),
  };
  return createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);
}

function runtimeMissing(c: Connection, runtime: string | undefined): DeployError {
  return new DeployError(
    'container-runtime',
    runtime
      ? `${c.host}: the container runtime ${JSON.stringify(runtime)} is not on the host's PATH (nor /usr/sbin, /sbin): install it there, or name another (runtime option, Host spec.containerRuntime)`
      : `${c.host}: no container runtime: neither runc nor crun is on the host's PATH (nor /usr/sbin, /sbin); install one there (Debian: apt-get install runc), or name one with the runtime option (Host spec.containerRuntime)`,
    { host: c.host },
  );
}

function nodeMissing(c: Connection, found: string, version: string): DeployError {
  return new DeployError(
    'container-runtime',
    found
      ? `${c.host}: node ${version || '(unknown version)'} at ${found} is too old: Flotilla prepares container bundles there with Node.js >= 20; install Node.js 20 or later on ${c.host}`
      : `${c.host}: no node on the host's PATH: Flotilla prepares container bundles there with Node.js >= 20; install Node.js 20 or later on ${c.host} (Debian: apt-get install nodejs), or put it on the login PATH`,
    { host: c.host },
  );
}

function nodeOk(version: string): boolean {
  const m = /^v?(\d+)\./.exec(version.trim());
  return m !== null && Number(m[1]) >= 20;
}

/** Uploads the host program and scripts the host lacks (content-addressed names). */
async function installHostFiles(c: Connection, probe: Probe, signal: AbortSignal | undefined): Promise<string> {
  const prog = await hostProgram();
  const progName = `image-host-${prog.hash}.mjs`;
  const sig = signal ? { signal } : {};
  const files: [string, string, number][] = [
    [progName, prog.text, 0o644],
    [SUPERVISE, CONTAINER_SUPERVISOR_SCRIPT, 0o755],
  ];
  if (files.some(([f]) => !probe.present.has(f))) await c.run('mkdir -p "$HOME/.flotilla/bin" "$HOME/.flotilla/containers"', { hide: true, ...sig });
  for (const [f, text, mode] of files) if (!probe.present.has(f)) await c.writeFile(`~/.flotilla/bin/${f}`, text, { mode, ...sig });
  return progName;
}

/**
 * One round trip: the host's facts (the first time for this connection, runtime and node),
 * which host files and blobs it has, and the container's status.
 */
/** The host facts this connection learnt in an earlier probe (for this runtime and node), if any. */
function cachedFacts(c: Connection, runtime: string | undefined, node: string): Map<string, string> | undefined {
  return factCache.get(c)?.get(`${runtime ?? ''}\0${node}`);
}

async function probeHost(c: Connection, name: string, runtime: string | undefined, signal?: AbortSignal, node = 'node', blobs: readonly string[] = [], snapshot?: string, startHelper = false): Promise<Probe> {
  const prog = await hostProgram();
  const key = `${runtime ?? ''}\0${node}`;
  let perConn = factCache.get(c);
  if (!perConn) factCache.set(c, (perConn = new Map<string, Map<string, string>>()));
  const cached = perConn.get(key);
  const r = await c.run(probeScript(name, runtime, [`image-host-${prog.hash}.mjs`, SUPERVISE], node, cached !== undefined, blobs, snapshot, startHelper), { hide: true, ...(signal ? { signal } : {}) });
  const p = parseProbe(r.stdout, cached);
  // Cached only when complete: a host without a runtime or node is asked again next time.
  if (!cached && p.runtime && p.node) perConn.set(key, p.facts);
  return p;
}

/** Runs the host program; its refusals become {@link ImageError}s (or DeployErrors) naming the host. */
async function runHostProgram(c: Connection, probe: Probe, prog: string, command: 'prepare' | 'gc', request: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const r = await c.run(hostProgramCommand(probe, prog, command), { hide: true, warn: true, input: JSON.stringify(request), ...(signal ? { signal } : {}) });
  return hostProgramResult(c, prog, command, request, r, r.stdout.trim().split('\n').pop() ?? '');
}

function hostProgramCommand(probe: Probe, prog: string, command: 'prepare' | 'gc'): string {
  return `${shellQuote(probe.node || 'node')} "$HOME/.flotilla/bin/${prog}" ${command}`;
}

/** The host program's answer (its JSON line `last`); its refusals become {@link ImageError}s (or DeployErrors) naming the host. */
function hostProgramResult(c: Connection, prog: string, command: 'prepare' | 'gc', request: unknown, r: { exitCode: number | null; stderr: string }, last: string): Record<string, unknown> {
  let out: { error?: { code: string; message: string; image?: string; blob?: string; entry?: string } } & Record<string, unknown>;
  try {
    out = JSON.parse(last) as typeof out;
  } catch {
    throw new DeployError('container', `${c.host}: the host program (${prog} ${command}) failed: ${r.stderr.trim().split('\n').slice(-3).join(' ') || `exit code ${r.exitCode}`}`, { host: c.host });
  }
  if (out.error) {
    const e = out.error;
    const codes = ['image-reference', 'image-invalid', 'image-platform', 'blob-digest', 'blob-missing', 'layer-unsafe'];
    if (codes.includes(e.code)) {
      // The image as the user named it, in the message too (the host's store speaks of blobs only).
      const image = e.image ?? (request as { image?: unknown }).image;
      const named = typeof image === 'string' && !e.message.includes(image) ? `image ${image}: ${e.message}` : e.message;
      throw new ImageError(e.code as ImageError['code'], `${named} (on ${c.host}; nothing running was changed)`, {
        host: c.host,
        ...(typeof image === 'string' ? { image } : {}),
        ...(e.blob ? { blob: e.blob } : {}),
        ...(e.entry ? { entry: e.entry } : {}),
      });
    }
    throw new DeployError('container', `${c.host}: ${command} failed: ${e.message}`, { host: c.host });
  }
  return out;
}

/** The exit status of the fast path's script when the snapshot went away meanwhile (then the host program prepares). */
const FAST_PATH_UNAVAILABLE = 75;

/**
 * The sh that assembles a bundle from the top snapshot without the host program, or
 * `undefined` when the image's User needs the rootfs's /etc/passwd to resolve.
 */
function fastBundle(req: PrepareRequest, config: Image['config'], topHex: string): string | undefined {
  const u = config.config?.User ?? '';
  let user: { uid: number; gid: number } | undefined;
  if (u === '') user = undefined;
  else if (/^\d+:\d+$/.test(u)) user = parseImageUser(u);
  else return undefined;
  if (req.rootless && user && (user.uid !== 0 || user.gid !== 0)) return undefined; // the host program says why
  const { spec, limitsEnforced } = requestRuntimeSpec(config, req, user);
  const meta = `${JSON.stringify({ ...req.meta, limitsEnforced, chainIds: chainIds(config.rootfs.diff_ids) })}\n`;
  return [
    `snap="$HOME/.flotilla/snapshots/${topHex}"`,
    `[ -d "$snap" ] || exit ${FAST_PATH_UNAVAILABLE}`,
    ...(req.ownersHook ? [`[ -f "$snap.owners" ] || exit ${FAST_PATH_UNAVAILABLE}`] : []),
    // One process (every process here is time a start waits for): a copy of the host's skeleton
    // of a container directory (`$C/.skel`: bundle/rootfs, upper/, work/ and the `started` fifo,
    // made once, here, when it is missing), else one mkdir and one mkfifo. With mkdir -p, the
    // parents it makes (the container's directory, bundle/) get 0700 from the umask; -m gives
    // the rest 0755.
    'umask 077',
    req.overlay
      ? [
          `[ -p "$C/.skel/started" ] || { k="$C/.skel-$$"; mkdir -p -m 755 "$k/bundle/rootfs" "$k/upper" "$k/work" && mkfifo -m 600 "$k/started" && { mv -T "$k" "$C/.skel" || { rm -rf "$C/.skel"; mv -T "$k" "$C/.skel"; }; } 2>/dev/null; rm -rf "$k"; }`,
          'cp -a -T "$C/.skel" "$t" 2>/dev/null || { mkdir -p -m 755 "$t/bundle/rootfs" "$t/upper" "$t/work" && { [ -p "$t/started" ] || mkfifo -m 600 "$t/started"; }; } || exit 1',
        ].join('\n')
      : `mkdir -p "$t/bundle" && { cp -a --reflink=auto "$snap" "$t/bundle/rootfs" 2>/dev/null || { rm -rf "$t"; exit ${FAST_PATH_UNAVAILABLE}; }; } || exit 1`,
    'umask 022',
    ...(req.ownersHook ? ['cp "$snap.owners" "$t/owners" || exit 1'] : []),
    `printf '%s' ${shellQuote(JSON.stringify(spec, null, 2))} > "$t/bundle/config.json" || exit 1`,
    `printf '%s' ${shellQuote(req.runEnv)} > "$t/run.env" || exit 1`,
    `printf '%s' ${shellQuote(meta)} > "$t/meta.json" || exit 1`,
    `printf '%s\\n' ${shellQuote(`${Date.now()} ${req.digest}`)} >> "$HOME/${HOST_IMAGES_DIR}/pulled"`,
  ].join('\n');
}

function runEnv(values: Record<string, string | number>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${shellQuote(String(v))}\n`).join('');
}

/**
 * Runs a container on the host of `c` (see the module's guarantees): idempotent for the same
 * name, digest and options; a different image or options replace the running one after the new
 * bundle is ready. Resolves once the container runs (or has already exited). Calls for the same
 * name on one host take turns (a lock there): two at once never start two containers.
 *
 * Round trips: on a connection that already knows the host (its facts are cached), a start of
 * an image whose layers are unpacked there is one round trip (checks, bundle, launch); when
 * something is missing, that round trip has also probed the host. Otherwise: a probe (the first
 * time on a connection), the signature check where the host requires one, the upload of the
 * blobs the host lacks, then one round trip in which the host program commits them (each checked
 * against its digest), unpacks the layers not unpacked there and makes the bundle, and only
 * then the launch replaces a running previous version (a refusal ends it before the launch).
 */
export async function runContainer(c: Connection, o: ContainerOptions): Promise<RunContainerResult> {
  validate(o);
  const step = stepTracer(c.host);
  const signal = o.signal;
  const sig = signal ? { signal } : {};
  const image = o.image;
  const imageName = image.reference.text;
  const blobHexes = imageBlobs(image).map((b) => b.digest.replace(/^sha256:/, ''));
  const chains = chainIds(image.config.rootfs.diff_ids);
  const topChain = chains.length ? chains[chains.length - 1]!.replace(/^sha256:/, '') : undefined;
  const hash = optionsHash(o);
  const nothingSent = (signedBy?: string): PushResult => ({ host: c.host, digest: image.digest, sent: [], present: imageBlobs(image), bytesSent: 0, ...(signedBy ? { signedBy } : {}) });
  // Pod networking: the pod's namespace, attached by CNI (idempotent: kept across versions), before the container starts in it.
  const pod = o.network ? await attachContainerNetwork(c, o.name, o.network, signal) : undefined;

  // One round trip: the host's facts are known, the image's top snapshot is (probably) there.
  // When it is not (or blobs are missing), the same round trip's first part is the probe.
  const prog = await hostProgram();
  step('start');
  const files = [`image-host-${prog.hash}.mjs`, SUPERVISE];
  const known = cachedFacts(c, o.runtime, o.node ?? 'node');
  const helperWanted = o.hostHelper !== false && !(Date.now() - (helperSlow.get(c) ?? -Infinity) < HOST_HELPER_IDLE_SECONDS * 1000) && typeof (await c.transport()).openUnixSocket === 'function';
  let probed: Probe | undefined;
  if (known && topChain !== undefined && o.signature === undefined) {
    const facts = parseProbe('', known);
    checkPlatform(c, image, facts);
    if (facts.runtime && !facts.home.includes("'")) {
      const request = prepareRequest(c, o, facts, hash, topChain, undefined, pod);
      const fast = fastBundle(request, image.config, topChain);
      if (fast) {
        const checks = [
          `[ -f "$HOME/.flotilla/bin/${SUPERVISE}" ] || exit ${NEEDS_PROBE}`,
          `[ -f "$HOME/.flotilla/allowed_signers" ] && exit ${NEEDS_PROBE}`,
          `for h in ${blobHexes.map(shellQuote).join(' ')}; do [ -f "$HOME/${HOST_IMAGES_DIR}/blobs/sha256/$h" ] || exit ${NEEDS_PROBE}; done`,
        ];
        const r = await c.run(
          [EXTRA_PATH, CONTAINER_SH_LIB, ...probeLines(o.name, o.runtime, files, o.node ?? 'node', true, blobHexes, topChain, helperWanted), `echo ${PROBED}`, ...checks, ...launchScript(o.name, image.digest, hash, request.target, facts.home, fast)].join('\n'),
          { hide: true, warn: true, ...sig },
        );
        step(`one-round-trip exit=${r.exitCode}`);
        const [before, after] = splitAt(r.stdout, PROBED);
        if (r.exitCode !== FAST_PATH_UNAVAILABLE && r.exitCode !== NEEDS_PROBE) return sameOrSh(await launched(c, o.name, { ...r, stdout: after }, request.target, (st) => nothingSent(st.signedBy)), after);
        if (after === '' && r.stdout.includes(PROBED)) probed = parseProbe(before, known);
      }
    }
  }

  const probe = probed ?? (await probeHost(c, o.name, o.runtime, signal, o.node, blobHexes, topChain, helperWanted));
  if (!probed) step('probe');
  if (!probe.runtime) throw runtimeMissing(c, o.runtime);
  checkPlatform(c, image, probe);
  const cur = probe.status;
  if (cur?.status.state === 'running' && cur.meta?.imageDigest === image.digest && cur.meta.optionsHash === hash) {
    return { ...cur.status, push: nothingSent(typeof cur.meta.signedBy === 'string' ? cur.meta.signedBy : undefined) };
  }
  const progPresent = probe.present.has(files[0]!);
  if (!probe.node || (!progPresent && !nodeOk(probe.nodeVersion))) throw nodeMissing(c, probe.node, probe.nodeVersion);
  if (probe.home.includes("'")) throw new DeployError('container', `${c.host}: the login directory ${probe.home} has a quote in its name; containers need a plain one`, { host: c.host });
  const progName = await installHostFiles(c, probe, signal);
  // The host helper (see ContainerOptions.hostHelper): when it is not running and the bundle needs
  // the program, it starts now — by the probe, or here on a host the program was just installed
  // on — and comes up while the blobs travel; the program is started only where it does not.
  const helper = helperWanted ? helperSocketFor(probe, progName) : undefined;
  let helperStarted = probe.helperStarted;
  if (helper && !probe.helper && !helperStarted && !probe.snapshot) {
    await c.run(startHelperLine(shellQuote(probe.node), progName, shellQuote(helper)), { hide: true, warn: true, ...sig });
    helperStarted = true;
  }
  let push: PushResult;
  let suffix = '';
  try {
    // Signatures first (where the host requires them): checked there before any blob is sent.
    const check: HostSignatureCheck = probe.signers || o.signature !== undefined
      ? await checkImageSignatureOnHost(c, image.digest, { image: imageName, ...(o.signature !== undefined ? { signature: o.signature } : existsSync(`${image.reference.path}.sig`) ? { signature: `${image.reference.path}.sig` } : {}), ...sig })
      : { required: false };
    // Only the blobs the host lacks (the probe asked), each checked here before it leaves; they
    // are checked there on arrival and committed in the next round trip, before anything else.
    const lacking = new Set(imageBlobs(image).filter((b) => probe.lacks.has(b.digest.replace(/^sha256:/, ''))).map((b) => b.digest));
    const sent = await sendBlobs(c, image, o.store, lacking, { ...sig, step });
    step('blobs sent');
    suffix = sent.suffix;
    push = { host: c.host, digest: image.digest, sent: sent.sent, present: sent.present, bytesSent: sent.sent.reduce((n, b) => n + b.size, 0), ...(check.required ? { signedBy: check.signedBy } : {}) };
  } catch (e) {
    // A blob refused here (tampered or missing in the local store) names the host it was for.
    if (isImageError(e) && e.host === undefined) {
      throw new ImageError(e.code, `${e.message} (while sending image ${imageName} to ${c.host}; nothing running was changed)`, {
        host: c.host,
        ...(e.image ? { image: e.image } : { image: imageName }),
        ...(e.blob ? { blob: e.blob } : {}),
        ...(e.entry ? { entry: e.entry } : {}),
        cause: e,
      });
    }
    throw e;
  }
  const request = prepareRequest(c, o, probe, hash, topChain, push.signedBy, pod);
  const ingest = push.sent.length ? { suffix, blobs: push.sent.map((b) => ({ digest: b.digest, size: b.size })) } : undefined;
  // The image's top snapshot on the host (its layers were verified when it was made) and a User
  // that needs no /etc/passwd: the bundle is made by sh in the launch's round trip — no node;
  // blobs just sent are committed (checked) by sh first, in the same round trip.
  const fast = probe.snapshot ? fastBundle(request, image.config, topChain!) : undefined;
  let committed = ingest === undefined;
  if (fast) {
    const commit = ingest ? [commitScript(ingest.blobs.map((b) => b.digest), { image: imageName, ingestSuffix: suffix })] : [];
    const r = await c.run([EXTRA_PATH, CONTAINER_SH_LIB, ...commit, ...launchScript(o.name, image.digest, hash, request.target, probe.home, fast)].join('\n'), { hide: true, warn: true, ...sig });
    if (r.exitCode === COMMIT_REFUSED) commitRefusal(c, r, imageName);
    committed = true;
    if (r.exitCode !== FAST_PATH_UNAVAILABLE) return sameOrSh(await launched(c, o.name, r, request.target, () => push), r.stdout);
  }
  const full = { ...request, ...(!committed && ingest ? { ingest } : {}) };
  const launch = launchScript(o.name, image.digest, hash, request.target, probe.home, undefined);
  // The host helper, where it is resident: the same checks and unpacking without starting Node
  // (then the launch is a round trip of its own). When it is not, the program is started as
  // below, and the helper is started in the background after the launch, for the next time.
  if (helper && (probe.helper || helperStarted)) {
    // One the probe just started may not listen yet: it is waited for (a while), not started twice.
    const answer = await askHelper(c, helper, 'prepare', full, signal, helperStarted ? HELPER_START_WAIT_MS : 0);
    step('helper prepare');
    if (answer === undefined && helperStarted) helperSlow.set(c, Date.now());
    if (answer !== undefined) {
      hostProgramResult(c, progName, 'prepare', full, { exitCode: 0, stderr: '' }, answer);
      const r = await c.run([EXTRA_PATH, CONTAINER_SH_LIB, ...launch].join('\n'), { hide: true, warn: true, ...sig });
      step('launch');
      return { ...(await launched(c, o.name, r, request.target, () => push)), preparedBy: 'helper' };
    }
  }
  // One round trip: the host program commits the blobs just sent (each checked against its
  // digest), unpacks the layers it lacks and makes the bundle; only then, in the same script,
  // the launch stops the previous version and starts this one. A refusal exits before the launch.
  const r = await c.run(
    [
      EXTRA_PATH,
      CONTAINER_SH_LIB,
      `t=${shellQuote(request.target)}`,
      `${hostProgramCommand(probe, progName, 'prepare')} || { s=$?; rm -rf "$t"; exit $s; }`,
      `echo ${PREPARED}`,
      ...(helper && !helperStarted ? ['(', ...launch, ')', `s=$?; ${startHelperLine(shellQuote(probe.node), progName, shellQuote(helper))}; exit $s`] : launch),
    ].join('\n'),
    { hide: true, warn: true, input: JSON.stringify(full), ...sig },
  );
  const [prepared, after] = splitAt(r.stdout, PREPARED);
  hostProgramResult(c, progName, 'prepare', full, r, prepared.trim().split('\n').pop() ?? '');
  return { ...(await launched(c, o.name, { ...r, stdout: after }, request.target, () => push)), preparedBy: 'program' };
}

/** How long the host helper stays without a request before it exits (seconds). */
export const HOST_HELPER_IDLE_SECONDS = 600;

/** The host helper's socket, relative to the login directory, for the host program file `prog` (`image-host-<hash>.mjs`). */
function helperSocket(prog: string): string {
  return `.flotilla/run/h-${prog.replace(/^image-host-/, '').replace(/\.mjs$/, '')}.sock`;
}

/** A new session for the helper (util-linux or busybox setsid; else nohup, which the non-interactive ssh session does not hang up anyway). */
const SETSID = '$(command -v setsid || echo nohup)';

/**
 * Connections on which a helper the probe started did not come up in time, and when: for the
 * helper's idle time it is not started or waited for there again (a host where it cannot start
 * would make every call wait); the program is started as without it.
 */
const helperSlow = new WeakMap<Connection, number>();

/** The longest helper socket path: sun_path holds 107 bytes and a NUL, and the helper binds a temporary name beside it, up to 5 bytes longer. */
const HELPER_SOCKET_MAX = 100;

/** How long a runContainer waits for a helper its probe started before it starts the program instead. */
const HELPER_START_WAIT_MS = 5_000;

/** The host helper's socket path on this host, or undefined where it cannot be used (no node, path too long or odd). */
function helperSocketFor(probe: Probe, prog: string): string | undefined {
  if (!probe.node) return undefined;
  const path = `${probe.home}/${helperSocket(prog)}`;
  if (!probe.home.startsWith('/') || path.length > HELPER_SOCKET_MAX || /[\s'"\\$`]/.test(path)) return undefined;
  return path;
}

/** The sh that starts the helper in the background (detached: its own session, no stdio of the channel's); `node` and `socket` are sh words. */
function startHelperLine(node: string, prog: string, socket: string): string {
  return `(umask 077; mkdir -p "$HOME/.flotilla/run" && cd / && exec ${SETSID} ${node} "$HOME/.flotilla/bin/${prog}" serve ${socket} ${HOST_HELPER_IDLE_SECONDS} </dev/null >/dev/null 2>&1 &)`;
}

/**
 * Sends one request to the host helper and resolves with its answer line, or `undefined` when
 * the helper is not there (no socket, nobody listening, forwarding refused, or the stream ended
 * before the helper's greeting): then nothing was acted on and the caller starts the program.
 * A stream that ends after the greeting without an answer is an error (the request may have
 * been acted on in part; a retry finds what was done).
 */
async function askHelper(c: Connection, socket: string, command: 'prepare' | 'gc', request: unknown, signal: AbortSignal | undefined, waitMs: number): Promise<string | undefined> {
  const until = Date.now() + waitMs;
  let stream: Duplex | undefined;
  for (let delay = 25; !stream; delay = Math.min(delay * 2, 400)) {
    try {
      stream = await (await c.transport()).openUnixSocket!(socket, signal);
    } catch {
      if (signal?.aborted || Date.now() + delay > until) return undefined;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return answerOf(c, stream, socket, command, request, signal);
}

/** The helper's answer on an open stream (see {@link askHelper}). */
function answerOf(c: Connection, stream: Duplex, socket: string, command: 'prepare' | 'gc', request: unknown, signal: AbortSignal | undefined): Promise<string | undefined> {
  return new Promise<string | undefined>((resolve, reject) => {
    let buf = '';
    let greeted = false;
    let done = false;
    const finish = (v: string | undefined, e?: Error): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      stream.destroy();
      if (e) reject(e);
      else resolve(v);
    };
    const onAbort = (): void => finish(undefined, new DeployError('aborted', `${c.host}: ${command} aborted`, { host: c.host, cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      if (!greeted) {
        const i = buf.indexOf('\n');
        if (i < 0) return;
        if (!buf.startsWith('ok ')) return finish(undefined);
        greeted = true;
        buf = buf.slice(i + 1);
        stream.write(`${JSON.stringify({ command, request })}\n`);
      }
      const j = buf.indexOf('\n');
      if (j >= 0) finish(buf.slice(0, j));
    });
    const ended = (): void => {
      if (!greeted) finish(undefined);
      else finish(undefined, new DeployError('container', `${c.host}: the host helper (${socket}) ended without answering ${command}; run it again`, { host: c.host }));
    };
    stream.once('end', ended);
    stream.once('close', ended);
    stream.once('error', ended);
  });
}

/**
 * What {@link runContainer} resolves with: the container's status, what was sent, and what
 * made the bundle — `sh` (the image's layers were unpacked there already), `helper` (the
 * resident host helper) or `program` (the host program, started for this call); absent when
 * the same image and options were running already.
 */
export type RunContainerResult = ContainerStatus & { push: PushResult; preparedBy?: 'sh' | 'helper' | 'program' };

/** Marks the end of the probe's output in the one-round-trip script. */
const PROBED = '@@flotilla-probed';
/** Marks the end of the host program's output in the prepare-and-launch script. */
const PREPARED = '@@flotilla-prepared';

/** The text before the line `marker` and after it (`[text, '']` without it). */
function splitAt(text: string, marker: string): [string, string] {
  const i = text.indexOf(`${marker}\n`);
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + marker.length + 1)];
}

/** Exit status of the one-round-trip script when the host needs the full path (host files, blobs, signers). */
const NEEDS_PROBE = 76;

function checkPlatform(c: Connection, image: Image, facts: Pick<Probe, 'arch'>): void {
  const hostArch = HOST_ARCH[facts.arch] ?? facts.arch;
  if (image.config.architecture === hostArch) return;
  throw new ImageError('image-platform', `image ${image.reference.text} (${image.digest}) is for ${image.config.os}/${image.config.architecture}, and ${c.host} is linux/${hostArch} (${facts.arch}); build or pick the image for ${hostArch}`, {
    image: image.reference.text,
    blob: image.digest,
    host: c.host,
    platforms: [`${image.config.os}/${image.config.architecture}`],
  });
}

/** What the host program (or the one-round-trip sh) needs to make the bundle. */
function prepareRequest(c: Connection, o: ContainerOptions, probe: Probe, hash: string, topChain: string | undefined, signedBy: string | undefined, pod?: PodAttachment): PrepareRequest {
  const rootless = probe.mode === 'rootless';
  const cpu = o.limits?.cpu ?? o.resources?.cpu;
  const memory = o.limits?.memory ?? o.resources?.memory;
  const containers = `${probe.home}/.flotilla/containers`;
  const target = `${containers}/.new-${o.name}-${createHash('sha256').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 8)}`;
  const cgpath = rootless ? '' : `/flotilla/${o.name}-${createHash('sha256').update(probe.runcRoot).digest('hex').slice(0, 8)}`;
  const runtimeCmd = probe.mode === 'sudo' ? `sudo -n ${probe.runtime}` : probe.runtime;
  // The rootfs is an overlay of the top snapshot (no copy) as root, and rootless where runc can
  // run as root of a user namespace of its own (which mounts it); otherwise a copy. (Plain
  // rootless runc could mount the overlay too, but it cannot bind-mount its own binary for the
  // container's init and copies it, ~10 MB, into a memfd on every start: slower than unshare.)
  const userns = rootless && probe.userns;
  const overlay = (probe.mode === 'root' || userns) && topChain !== undefined;
  // Rootless, where unprivileged overlayfs works: runc mounts the overlay as the container's first mount.
  const dir = `${containers}/${o.name}`;
  const lower = `${probe.home}/.flotilla/snapshots/${topChain ?? ''}`;
  const rtMount = overlay && userns && probe.ovl && ![dir, lower].some((p) => /[,:\n]/.test(p));
  return {
    digest: o.image.digest,
    image: o.image.reference.text,
    target,
    rootless,
    // With userns, runc's own namespace maps the host user to root, and the container's maps root to that.
    hostUid: userns ? 0 : probe.uid,
    hostGid: userns ? 0 : probe.gid,
    hostname: o.name,
    ...(o.command ? { command: o.command } : {}),
    ...(o.args ? { args: o.args } : {}),
    env: { ...(o.env ?? {}), ...portEnv(o.ports, o.host) },
    readOnlyRootFilesystem: o.readOnlyRootFilesystem ?? false,
    ...(!rootless && (cpu !== undefined || memory !== undefined) ? { resources: { ...(cpu !== undefined ? { cpuMillis: Math.round(cpu * 1000) } : {}), ...(memory !== undefined ? { memoryBytes: memory } : {}) } } : {}),
    ...(cgpath ? { cgroupsPath: cgpath } : {}),
    meta: {
      name: o.name,
      image: o.image.reference.text,
      imageDigest: o.image.digest,
      ...(signedBy ? { signedBy } : {}),
      ...(o.ports ? { ports: o.ports } : {}),
      rootless,
      mode: probe.mode,
      runtime: probe.runtime,
      optionsHash: hash,
      restartPolicy: o.restartPolicy ?? 'Always',
      gracePeriodSeconds: o.gracePeriodSeconds ?? 10,
      ...(pod ? { podIP: pod.podIP } : {}),
    },
    ...(pod ? { network: { netns: pod.netns, ...(pod.resolvConfPath ? { resolvConf: pod.resolvConfPath } : {}) } } : {}),
    runEnv: runEnv({
      rt: runtimeCmd,
      root: probe.runcRoot,
      name: o.name,
      cgpath,
      kmsg: cgpath ? probe.kmsg : '',
      mode: probe.mode,
      grace: o.gracePeriodSeconds ?? 10,
      logmax: o.logMaxBytes ?? LOG_MAX_BYTES,
      policy: { Always: 'always', OnFailure: 'on-failure', Never: 'never' }[o.restartPolicy ?? 'Always'],
      lower: overlay ? lower : '',
      userns: userns ? 1 : '',
      rtmount: rtMount ? 1 : '',
      // config.json's poststart hook writes to the `started` fifo (ctr_launch waits there).
      started: 1,
    }),
    ...(rtMount ? { rootfsOverlay: { lower, upper: `${dir}/upper`, work: `${dir}/work` } } : {}),
    ...(overlay ? { overlay } : {}),
    // Through sudo the host program unpacks as the user: the runtime, as root, gives the files their owners.
    ...(probe.mode === 'sudo' ? { ownersHook: { path: '/bin/sh', args: ['sh', '-c', OWNERS_HOOK_SCRIPT, 'flotilla-owners', `${containers}/${o.name}`] } } : {}),
    startedHook: { path: '/bin/sh', args: ['sh', '-c', STARTED_HOOK_SCRIPT, `${dir}/started`] },
  };
}

/** A launch's result with `preparedBy: 'sh'`, unless it found the same container running (nothing prepared). */
function sameOrSh(st: ContainerStatus & { push: PushResult }, stdout: string): RunContainerResult {
  return stdout.includes(SAME) ? st : { ...st, preparedBy: 'sh' };
}

/** Marks the output of a launch that found the same image and options already running (another call's). */
const SAME = '@@flotilla-same';

/**
 * The launch, under the container's lock: the same image and options already running (a
 * concurrent call got there first) is kept; else the previous version is stopped only now,
 * when the new bundle is ready, and the new one started. `bundle` (sh) makes the bundle in
 * `$t`: in the container's own directory when there is none (no rename), else beside it.
 * Without `bundle`, the host program made it at `target` already.
 */
function launchScript(name: string, digest: string, hash: string, target: string, home: string, bundle: string | undefined): string[] {
  const bin = `${home}/.flotilla/bin`;
  const same = `"imageDigest":"${digest}"`;
  const sameOpts = `"optionsHash":"${hash}"`;
  return [
    `n=${shellQuote(name)}; t=${shellQuote(target)}`,
    'ctr_lock "$n" || exit 1',
    // meta.json is one line: matched by the shell itself (no grep to start).
    `if [ -f "$C/$n/meta.json" ]; then ctr_rd m "$C/$n/meta.json"; case $m in *${shellQuote(same)}*) case $m in *${shellQuote(sameOpts)}*) if ctr_running "$n"; then rm -rf "$t"; echo ${SAME}; ctr_status "$n"; exit 0; fi ;; esac ;; esac; fi`,
    ...(bundle ? ['[ -e "$C/$n" ] || t="$C/$n"', bundle] : []),
    'if [ "$t" != "$C/$n" ]; then ctr_stop "$n" || exit 1; mv "$t" "$C/$n" || exit 1; fi',
    `ctr_launch "$n" ${shellQuote(`${bin}/${SUPERVISE}`)}`,
  ];
}

async function launched(c: Connection, name: string, r: { exitCode: number | null; stdout: string; stderr: string }, target: string, push: (st: ContainerStatus) => PushResult): Promise<ContainerStatus & { push: PushResult }> {
  const st = parseStatuses(r.stdout).get(name);
  if (r.exitCode !== 0 || !st) {
    await c.run(`rm -rf ${shellQuote(target)}`, { hide: true, warn: true });
    throw new DeployError('container', `${c.host}: could not start container ${name}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  }
  return { ...st.status, push: push(st.status) };
}

/** The statuses of containers on one host, in one round trip (`absent` for unknown names). */
export async function containerStatuses(c: Connection, names: readonly string[]): Promise<Map<string, ContainerStatus>> {
  for (const n of names) checkName(n);
  const out = new Map<string, ContainerStatus>();
  if (!names.length) return out;
  const r = await c.run([EXTRA_PATH, CONTAINER_SH_LIB, ...names.map((n) => `ctr_status ${shellQuote(n)}`)].join('\n'), { hide: true });
  const parsed = parseStatuses(r.stdout);
  for (const n of names) out.set(n, parsed.get(n)?.status ?? { name: n, state: 'absent', restarts: 0, rootless: false, limitsEnforced: false });
  return out;
}

/** Options of {@link stopContainer}. */
export interface StopContainerOptions {
  /** @default the one it was started with */
  gracePeriodSeconds?: number;
  /**
   * Where the CNI plugins are (Host `spec.cniBinDir`), for the DEL of its pod network. Used only
   * when the ADD's state does not name the directory it ran from (which DEL always prefers, so a
   * changed Host spec does not change the plugins that undo an attachment). @default '/usr/lib/cni'
   */
  cniBinDir?: string;
  signal?: AbortSignal;
}

/**
 * Stops a container (SIGTERM, then SIGKILL after the grace period: the given one, else the
 * one it was started with), removes its bundle and rootfs, and deletes its pod network (CNI DEL
 * from the state ADD saved). Idempotent.
 */
export async function stopContainer(c: Connection, name: string, o: StopContainerOptions = {}): Promise<void> {
  checkName(name);
  if (o.gracePeriodSeconds !== undefined && (!Number.isInteger(o.gracePeriodSeconds) || o.gracePeriodSeconds < 0)) badOption('gracePeriodSeconds', 'an integer >= 0', o.gracePeriodSeconds);
  if (o.cniBinDir !== undefined && (typeof o.cniBinDir !== 'string' || !o.cniBinDir.startsWith('/'))) badOption('cniBinDir', 'an absolute directory path', o.cniBinDir);
  const r = await c.run(
    [
      EXTRA_PATH,
      CONTAINER_SH_LIB,
      `ctr_lock ${shellQuote(name)} || exit 1`,
      `ctr_stop ${shellQuote(name)} ${o.gracePeriodSeconds ?? ''} || exit 1`,
      // A pod network to delete (no extra round trip, and no sudo, for a container without one).
      `if [ -d "$HOME/.flotilla/cni/flotilla/"${shellQuote(`${name}-eth0`)} ] || [ -e /run/netns/flo-${shellQuote(name)} ]; then echo ${HAS_NET}; fi`,
    ].join('\n'),
    { hide: true, warn: true, ...(o.signal ? { signal: o.signal } : {}) },
  );
  if (r.exitCode !== 0) throw new DeployError('container', `${c.host}: could not stop container ${name}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  if (r.stdout.includes(HAS_NET)) await detachPodNetwork(c, name, { ...(o.cniBinDir !== undefined ? { binDir: o.cniBinDir } : {}), ...(o.signal ? { signal: o.signal } : {}) });
}

const HAS_NET = '@@flotilla-pod-network';

async function attachContainerNetwork(c: Connection, name: string, n: ContainerNetwork, signal: AbortSignal | undefined): Promise<PodAttachment> {
  if (typeof n !== 'object' || n === null || typeof n.subnet !== 'string') badOption('network', 'a ContainerNetwork { subnet, binDir?, portMappings?, dns? }', n);
  const gateway = subnetAddress(n.subnet, 1);
  const resolvConf = podResolvConf({ nameserver: n.dns?.nameserver ?? gateway, search: n.dns?.search ?? [] });
  return attachPodNetwork(c, name, { subnet: n.subnet, resolvConf, ...(n.binDir ? { binDir: n.binDir } : {}), ...(n.portMappings ? { portMappings: n.portMappings } : {}), ...(signal ? { signal } : {}) });
}

/** Restarts a container with the same bundle (graceful stop, then start); its restart count starts again at 0. */
export async function restartContainer(c: Connection, name: string): Promise<void> {
  checkName(name);
  const probe = await probeHost(c, name, undefined);
  if (probe.status?.status.state === 'absent' || !probe.status) throw new DeployError('container', `${c.host}: no container ${name} to restart`, { host: c.host });
  await installHostFiles(c, probe, undefined);
  const bin = `${probe.home}/.flotilla/bin`;
  const r = await c.run([EXTRA_PATH, CONTAINER_SH_LIB, `ctr_lock ${shellQuote(name)} || exit 1`, `[ -f "$C"/${shellQuote(name)}/run.env ] || { echo 'it is gone' >&2; exit 1; }`, `ctr_halt ${shellQuote(name)}`, `ctr_launch ${shellQuote(name)} ${shellQuote(`${bin}/${SUPERVISE}`)}`].join('\n'), { hide: true, warn: true });
  if (r.exitCode !== 0) throw new DeployError('container', `${c.host}: could not restart container ${name}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
}

const NOT_RUNNING = '@@flotilla-container-not-running';

/**
 * Runs `argv` inside the running container (`runc exec`: its namespaces, rootfs, env and cwd).
 * Resolves with the exit code and output whatever the code; throws `container` when the
 * container is not running, `timeout` after `timeoutMs`.
 */
export async function execInContainer(c: Connection, name: string, argv: string[], o: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  checkName(name);
  if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) badOption('argv', 'a non-empty array of strings', argv);
  const r = await c.run(
    [
      EXTRA_PATH,
      CONTAINER_SH_LIB,
      `ctr_exec ${shellQuote(name)} ${shellJoin(argv)}`,
      `echo ${NOT_RUNNING} >&2; exit 125`,
    ].join('\n'),
    { hide: true, warn: true, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) },
  );
  if (r.stderr.includes(NOT_RUNNING)) throw new DeployError('container', `${c.host}: container ${name} is not running; cannot exec ${argv[0]!} in it`, { host: c.host });
  return { code: r.exitCode ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The container's output (stdout and stderr, with the supervisor's notes), line by line;
 * `follow` keeps reading until `signal` aborts.
 */
export async function* containerLogs(c: Connection, name: string, o: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<string> {
  checkName(name);
  const t = await c.transport();
  const queue: string[] = [];
  let rest = '';
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) ac.abort();
  const errs: Buffer[] = [];
  const f = `"$HOME"/.flotilla/containers/${shellQuote(name)}/log`;
  const exec = t
    .exec(`[ -f ${f} ] || { echo "no container ${name}" >&2; exit 3; }; exec tail -n +1 ${o.follow ? '-f ' : ''}${f}`, {
      signal: ac.signal,
      onStdout: (chunk) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop()!;
        queue.push(...lines);
        notify();
      },
      onStderr: (chunk) => errs.push(chunk),
    })
    .then(
      (r) => {
        if (r.exitCode === 3) failure = new DeployError('container', `${c.host}: no container ${name} (no log)`, { host: c.host });
      },
      (e: unknown) => {
        if (!ac.signal.aborted) failure = e instanceof Error ? e : new Error(String(e));
      },
    )
    .finally(() => {
      done = true;
      notify();
    });
  try {
    for (;;) {
      while (queue.length) yield queue.shift()!;
      if (done) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (rest) yield rest;
    if (failure) throw failure;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    ac.abort();
    await exec.catch(() => undefined);
  }
}

/**
 * Removes blobs and layer snapshots that no container on the host uses and that belong to
 * none of the last `keepLast` images pulled there.
 */
export async function gcImages(c: Connection, o: { keepLast?: number } = {}): Promise<{ removedBlobs: number; removedSnapshots: number; bytesFreed: number }> {
  const keepLast = o.keepLast ?? 3;
  if (!Number.isInteger(keepLast) || keepLast < 0) badOption('keepLast', 'an integer >= 0', keepLast);
  const probe = await probeHost(c, 'gc', undefined);
  const prog = await hostProgram();
  if (!probe.node || (!probe.present.has(`image-host-${prog.hash}.mjs`) && !nodeOk(probe.nodeVersion))) throw nodeMissing(c, probe.node, probe.nodeVersion);
  const progName = await installHostFiles(c, probe, undefined);
  const r = await runHostProgram(c, probe, progName, 'gc', { keepLast });
  return { removedBlobs: Number(r.removedBlobs), removedSnapshots: Number(r.removedSnapshots), bytesFreed: Number(r.bytesFreed) };
}
