/**
 * CNI, as libcni's `invoke` runs it: a plugin is a program; the contract is its environment
 * (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_PATH`), the network
 * configuration on stdin (with `cniVersion`, `name`, the `prevResult` of the plugin before it in a
 * chain, and `runtimeConfig` for the capabilities it declares), a result or an error as JSON on
 * stdout, and its exit code. A chain (a `.conflist`) runs in order for ADD and CHECK and in
 * reverse for DEL.
 *
 * Guarantees:
 * - **One round trip per operation**, on any `Connection`, as root (sudo when needed): the
 *   whole chain runs on the host in one script; each plugin's output feeds the next there.
 * - **DEL works from saved state.** ADD saves each plugin's configuration, the netns path, the
 *   plugin directory (`binDir`) and the result under the host user's home
 *   (`~/.flotilla/cni/<network>/<container>/`), so a DEL long after (the caller's memory gone,
 *   the host away meanwhile, the namespace deleted, the Host's `spec.cniBinDir` changed) runs
 *   with what the ADD ran with: the same plugins from the same directory. DEL and CHECK take the
 *   caller's `binDir` only when nothing was saved or the saved directory is gone. DEL is
 *   idempotent: nothing saved and no config given is success.
 * - **Errors are data**: a plugin's error JSON (`code`, `msg`, `details`) becomes a
 *   {@link CniError} naming the host, the plugin and the operation.
 */
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { shellQuote } from '../quote.js';
import { parseCidr, formatIPv4, cidrAddress } from './ip.js';
import { runPrivileged } from './privileged.js';
import { DEFAULT_CNI_BIN_DIR } from './tools.js';

/** A network configuration list (the CNI spec's `.conflist`). */
export interface CniNetworkConfig {
  cniVersion: string;
  name: string;
  plugins: (Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> })[];
}

/** A CNI result (the parts Flotilla reads; the rest is kept as the plugin wrote it). */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
  [k: string]: unknown;
}

/** A plugin failed (its error JSON, when it wrote one). */
export class CniError extends DeployError {
  override name = 'CniError';
  readonly plugin: string;
  readonly operation: 'ADD' | 'DEL' | 'CHECK';
  /** The plugin's error code (CNI spec: 1 incompatible version, 2 unsupported field, 3 unknown container, 4 invalid env, 5 I/O, 6 decode, 7 invalid config, 11 try later; 100+ plugin's own). */
  readonly cniCode: number | undefined;
  readonly details: string | undefined;
  constructor(host: string, plugin: string, operation: 'ADD' | 'DEL' | 'CHECK', message: string, data: { cniCode?: number; details?: string } = {}) {
    super('cni', `${host}: CNI ${operation} failed in plugin ${plugin}: ${message}${data.details ? ` (${data.details})` : ''}`, { host });
    this.plugin = plugin;
    this.operation = operation;
    this.cniCode = data.cniCode;
    this.details = data.details;
  }
}

/** True for a {@link CniError}. */
export function isCniError(e: unknown): e is CniError {
  return e instanceof Error && (e as Partial<CniError>).name === 'CniError' && typeof (e as Partial<CniError>).plugin === 'string';
}

/** Options naming one attachment (a container's interface on a network). */
export interface CniAttachment {
  /** The container's id (letters, digits, `.`, `_`, `-`). */
  containerId: string;
  /** The network namespace's path on the host, e.g. `/run/netns/web-1`. */
  netns: string;
  /** @default 'eth0' */
  ifName?: string;
  /**
   * Where the plugins are (Host `spec.cniBinDir`). ADD saves it with the attachment's state; DEL
   * and CHECK run the plugins from the saved directory, and from this one only when nothing was
   * saved (state from before it was recorded, or a DEL with a `network`) or that directory is gone.
   * @default '/usr/lib/cni'
   */
  binDir?: string;
  /** Capability arguments given to plugins that declare them (`runtimeConfig`), e.g. `{ portMappings: [{ hostPort, containerPort, protocol }] }`. */
  capabilityArgs?: Record<string, unknown>;
  signal?: AbortSignal;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkNetwork(n: CniNetworkConfig): void {
  if (typeof n !== 'object' || n === null) badOption('network', 'a CNI network configuration list { cniVersion, name, plugins }', n);
  if (typeof n.cniVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(n.cniVersion)) badOption('network.cniVersion', 'a version like "1.0.0"', n.cniVersion);
  if (typeof n.name !== 'string' || !NAME.test(n.name)) badOption('network.name', 'a network name of letters, digits, ".", "_" and "-"', n.name);
  if (!Array.isArray(n.plugins) || n.plugins.length === 0) badOption('network.plugins', 'a non-empty array of plugin configurations', n.plugins);
  n.plugins.forEach((p, i) => {
    if (typeof p?.type !== 'string' || !TYPE.test(p.type)) badOption(`network.plugins[${i}].type`, 'a plugin name (a program in binDir)', p?.type);
  });
}

function checkAttachment(a: Partial<CniAttachment>, needNetns: boolean): { id: string; ifName: string; binDir: string } {
  if (typeof a.containerId !== 'string' || !ID.test(a.containerId)) badOption('containerId', 'a container id of letters, digits, ".", "_" and "-"', a.containerId);
  if (needNetns && (typeof a.netns !== 'string' || !a.netns.startsWith('/'))) badOption('netns', 'the absolute path of a network namespace', a.netns);
  const ifName = a.ifName ?? 'eth0';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifName)) badOption('ifName', 'an interface name (at most 15 characters)', ifName);
  const binDir = a.binDir ?? DEFAULT_CNI_BIN_DIR;
  if (typeof binDir !== 'string' || !binDir.startsWith('/')) badOption('binDir', 'an absolute directory path', binDir);
  return { id: a.containerId, ifName, binDir };
}

/**
 * Each plugin's stdin as libcni builds it (pure): the plugin's own config with the list's
 * `cniVersion` and `name`, and `runtimeConfig` with the capability arguments it declares —
 * without the closing brace, so the host script can append `"prevResult": …` when a plugin
 * before it produced one.
 */
export function pluginInputs(network: CniNetworkConfig, capabilityArgs: Record<string, unknown> = {}): string[] {
  return network.plugins.map((p) => {
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(p.capabilities ?? {})) if (on && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
    const conf = { ...p, cniVersion: network.cniVersion, name: network.name, ...(Object.keys(runtimeConfig).length ? { runtimeConfig } : {}) };
    const text = JSON.stringify(conf);
    return text.slice(0, -1);
  });
}

/** Stands for the host user's login directory in plugin configurations (replaced on the host: plugins do not expand `~`). */
export const HOME_TOKEN = '@@FLOTILLA_HOME@@';

/** `~/.flotilla/cni/<network>/<container>-<ifname>`, as the host script spells it ($H is the login directory). */
function stateDir(network: string, id: string, ifName: string): string {
  return `"$H"/.flotilla/cni/${shellQuote(network)}/${shellQuote(`${id}-${ifName}`)}`;
}

/** The one function each script shares: run plugin $1 with command $2, stdin $3; stdout to $out, exit code to $rc. */
const RUN_PLUGIN = [
  'cni_run() {',
  '  out=$(printf \'%s\' "$3" | CNI_COMMAND="$2" CNI_CONTAINERID="$CID" CNI_NETNS="$NS" CNI_IFNAME="$IFN" CNI_PATH="$BIN" "$BIN/$1" 2>/tmp/.flotilla-cni-err.$$)',
  '  rc=$?',
  '  err=$(cat /tmp/.flotilla-cni-err.$$ 2>/dev/null); rm -f /tmp/.flotilla-cni-err.$$',
  '}',
  // A result is one JSON line: printed framed, so several can share stdout.
  'emit() { printf \'@@%s %s\\n\' "$1" "$(printf \'%s\' "$2" | tr -d \'\\n\')"; }',
].join('\n');

/** Shell: the plugin directory ADD saved in "$d", when it still exists, replaces the caller's ($BIN). */
const SAVED_BIN_DIR = 'if [ -s "$d/bindir" ]; then s=$(cat "$d/bindir"); [ -d "$s" ] && BIN=$s; fi';

function header(id: string, ifName: string, binDir: string, netns: string): string {
  return [`CID=${shellQuote(id)}`, `IFN=${shellQuote(ifName)}`, `BIN=${shellQuote(binDir)}`, `NS=${shellQuote(netns)}`, RUN_PLUGIN].join('\n');
}

/** The ADD script (pure; exported for tests): run the chain, save config and result, print the result. */
export function cniAddScript(network: CniNetworkConfig, a: CniAttachment): string {
  checkNetwork(network);
  const { id, ifName, binDir } = checkAttachment(a, true);
  const inputs = pluginInputs(network, a.capabilityArgs);
  const d = stateDir(network.name, id, ifName);
  const lines = [
    header(id, ifName, binDir, a.netns),
    `d=${d}`,
    'mkdir -p "$d" && chmod 700 "$d" || exit 1',
    'printf \'%s\' "$NS" > "$d/netns"',
    // DEL and CHECK run the plugins from where ADD ran them, whatever the caller says then
    'printf \'%s\' "$BIN" > "$d/bindir"',
    `printf '%s\\n' ${network.plugins.map((p) => shellQuote(p.type)).join(' ')} > "$d/plugins"`,
    ...inputs.map((t, i) => `printf '%s' ${shellQuote(t)} | sed "s|${HOME_TOKEN}|$H|g" > "$d/conf.${i}"`),
    'rm -f "$d/result"',
    'prev=',
  ];
  network.plugins.forEach((p, i) => {
    lines.push(
      `if [ -z "$prev" ]; then in="$(cat "$d/conf.${i}")}"; else in="$(cat "$d/conf.${i}"),\\"prevResult\\":$prev}"; fi`,
      `cni_run ${shellQuote(p.type)} ADD "$in"`,
      `if [ $rc -ne 0 ]; then emit error-${i} "$out"; emit stderr "$err"; exit 3; fi`,
      'prev=$out',
    );
  });
  lines.push('printf \'%s\' "$prev" > "$d/result"', 'emit result "$prev"');
  return lines.join('\n');
}

/**
 * The DEL script (pure; exported for tests): from the saved state when there is one, else from
 * `network` when given; plugins in reverse, each with the ADD's result as `prevResult`; every
 * plugin runs even when one fails; the state is removed when all succeeded.
 */
export function cniDelScript(networkName: string, a: Omit<CniAttachment, 'netns'> & { netns?: string }, network?: CniNetworkConfig): string {
  if (network) checkNetwork(network);
  const { id, ifName, binDir } = checkAttachment(a, false);
  const d = stateDir(networkName, id, ifName);
  const lines = [
    header(id, ifName, binDir, a.netns ?? ''),
    `d=${d}`,
    'if [ -f "$d/plugins" ]; then',
    '  NS=$(cat "$d/netns" 2>/dev/null)',
    `  ${SAVED_BIN_DIR}`,
  ];
  if (network) {
    lines.push(
      'else',
      '  mkdir -p "$d" || exit 1',
      `  printf '%s\\n' ${network.plugins.map((p) => shellQuote(p.type)).join(' ')} > "$d/plugins"`,
      ...pluginInputs(network, a.capabilityArgs).map((t, i) => `  printf '%s' ${shellQuote(t)} | sed "s|${HOME_TOKEN}|$H|g" > "$d/conf.${i}"`),
    );
  } else {
    lines.push('else', '  emit absent ""', '  exit 0');
  }
  lines.push(
    'fi',
    // A namespace that is gone: plugins still release what they hold outside it (IPAM) with an empty CNI_NETNS.
    '[ -n "$NS" ] && [ ! -e "$NS" ] && NS=',
    'prev=$(cat "$d/result" 2>/dev/null)',
    'n=$(wc -l < "$d/plugins"); failed=0; i=$n',
    'while [ $i -gt 0 ]; do',
    '  i=$((i-1)); t=$(sed -n "$((i+1))p" "$d/plugins")',
    '  if [ -z "$prev" ]; then in="$(cat "$d/conf.$i")}"; else in="$(cat "$d/conf.$i"),\\"prevResult\\":$prev}"; fi',
    '  cni_run "$t" DEL "$in"',
    '  if [ $rc -ne 0 ]; then failed=1; emit "error-$i" "$out"; emit stderr "$err"; fi',
    'done',
    'if [ $failed = 0 ]; then rm -rf "$d"; emit deleted ""; else exit 3; fi',
  );
  return lines.join('\n');
}

/** The CHECK script (pure; exported for tests): the saved chain in order with the saved result. */
export function cniCheckScript(networkName: string, a: Omit<CniAttachment, 'netns'>): string {
  const { id, ifName, binDir } = checkAttachment(a, false);
  const d = stateDir(networkName, id, ifName);
  return [
    header(id, ifName, binDir, ''),
    `d=${d}`,
    '[ -f "$d/result" ] || { emit absent ""; exit 4; }',
    'NS=$(cat "$d/netns")',
    SAVED_BIN_DIR,
    '[ -e "$NS" ] || { emit nonetns ""; exit 4; }',
    'prev=$(cat "$d/result")',
    'n=$(wc -l < "$d/plugins"); i=0',
    'while [ $i -lt $n ]; do',
    '  t=$(sed -n "$((i+1))p" "$d/plugins")',
    '  cni_run "$t" CHECK "$(cat "$d/conf.$i"),\\"prevResult\\":$prev}"',
    // portmap up to plugins v1.1 checks its IPv6 chain even for a pod without IPv6 (after the
    // IPv4 chain passed): that one error, for a pod with no IPv6 address, is a pass
    '  if [ $rc -ne 0 ] && [ "$t" = portmap ] && printf %s "$out" | grep -q "could not check ipv6 dnat" && ! grep -q \'"address": *"[0-9a-fA-F]*:\' "$d/result"; then rc=0; fi',
    '  if [ $rc -ne 0 ]; then emit "error-$i" "$out"; emit stderr "$err"; exit 3; fi',
    '  i=$((i+1))',
    'done',
    'emit ok ""',
  ].join('\n');
}

function frames(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('@@')) continue;
    const sp = line.indexOf(' ');
    m.set(line.slice(2, sp < 0 ? undefined : sp), sp < 0 ? '' : line.slice(sp + 1));
  }
  return m;
}

function pluginError(host: string, op: 'ADD' | 'DEL' | 'CHECK', f: Map<string, string>, types: (i: number) => string, fallback: string): CniError | undefined {
  for (const [k, v] of f) {
    const m = /^error-(\d+)$/.exec(k);
    if (!m) continue;
    const plugin = types(Number(m[1]));
    let parsed: { code?: number; msg?: string; details?: string } = {};
    try {
      parsed = JSON.parse(v) as typeof parsed;
    } catch {
      /* not JSON: the plugin crashed or was not found */
    }
    const stderr = f.get('stderr')?.trim();
    return new CniError(host, plugin, op, parsed.msg ?? (stderr || v || fallback), {
      ...(parsed.code !== undefined ? { cniCode: parsed.code } : {}),
      ...(parsed.details ? { details: parsed.details } : {}),
    });
  }
  return undefined;
}

/**
 * CNI ADD of the chain `network` for one container's namespace. Resolves with the last
 * plugin's result. On failure the chain is deleted again (as a runtime must) and a
 * {@link CniError} is thrown.
 */
export async function cniAdd(c: Connection, network: CniNetworkConfig, a: CniAttachment): Promise<CniResult> {
  const script = cniAddScript(network, a);
  const r = await runPrivileged(c, script, { what: 'CNI', ...(a.signal ? { signal: a.signal } : {}) });
  const f = frames(r.stdout);
  const result = f.get('result');
  if (r.exitCode === 0 && result !== undefined) return JSON.parse(result) as CniResult;
  const err = pluginError(c.host, 'ADD', f, (i) => network.plugins[i]?.type ?? '?', `exit code ${r.exitCode}`) ?? new DeployError('cni', `${c.host}: CNI ADD failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  await cniDel(c, network.name, a).catch(() => undefined);
  throw err;
}

/**
 * CNI DEL (see the module's guarantees). Resolves `'deleted'`, or `'absent'` when nothing was
 * saved and no `network` was given (already deleted). Throws a {@link CniError} when a plugin
 * failed (the state is kept, so a later DEL tries again).
 */
export async function cniDel(c: Connection, networkName: string, a: Omit<CniAttachment, 'netns'> & { netns?: string }, network?: CniNetworkConfig): Promise<'deleted' | 'absent'> {
  if (typeof networkName !== 'string' || !NAME.test(networkName)) badOption('networkName', 'a network name of letters, digits, ".", "_" and "-"', networkName);
  const r = await runPrivileged(c, cniDelScript(networkName, a, network), { what: 'CNI', ...(a.signal ? { signal: a.signal } : {}) });
  const f = frames(r.stdout);
  if (r.exitCode === 0 && f.has('absent')) return 'absent';
  if (r.exitCode === 0 && f.has('deleted')) return 'deleted';
  throw pluginError(c.host, 'DEL', f, (i) => network?.plugins[i]?.type ?? `#${i}`, `exit code ${r.exitCode}`) ?? new DeployError('cni', `${c.host}: CNI DEL failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
}

/**
 * CNI CHECK of a saved attachment: `'ok'`, `'absent'` (no ADD saved, or its namespace is
 * gone), or a {@link CniError} naming the plugin that found the attachment broken.
 */
export async function cniCheck(c: Connection, networkName: string, a: Omit<CniAttachment, 'netns'>): Promise<'ok' | 'absent'> {
  const r = await runPrivileged(c, cniCheckScript(networkName, a), { what: 'CNI', ...(a.signal ? { signal: a.signal } : {}) });
  const f = frames(r.stdout);
  if (f.has('ok') && r.exitCode === 0) return 'ok';
  if (f.has('absent') || f.has('nonetns')) return 'absent';
  throw pluginError(c.host, 'CHECK', f, (i) => `#${i}`, `exit code ${r.exitCode}`) ?? new DeployError('cni', `${c.host}: CNI CHECK failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
}

/** Options of {@link podNetworkConfig}. */
export interface PodNetworkConfigOptions {
  /** The host's pod subnet (its lease): `a.b.c.0/p`. The gateway (the bridge's address) is its first address. */
  subnet: string;
  /** @default 'flotilla' */
  name?: string;
  /** @default 'flo0' */
  bridge?: string;
  /** host-local's dataDir, under the host user's home (hosts may share a filesystem outside their homes). Relative paths are relative to the login directory. @default '.flotilla/cni/ipam' */
  dataDir?: string;
  /** @default '1.0.0' */
  cniVersion?: string;
}

/**
 * DESIGN.md's pod network as a CNI configuration list (pure): `bridge` on `flo0` with the
 * subnet's first address as gateway (`isGateway`, `hairpinMode` so a pod reaches itself through a
 * VIP, no `ipMasq`: nothing is NATed out), `host-local` IPAM with its dataDir under the home and a
 * default route via the gateway, then `portmap` for host ports (`capabilities.portMappings`).
 */
export function podNetworkConfig(o: PodNetworkConfigOptions): CniNetworkConfig {
  const subnet = parseCidr(o.subnet);
  if (!subnet || subnet.prefix > 30) badOption('subnet', 'an IPv4 network of at least 4 addresses like 10.244.1.0/24 (host bits zero)', o.subnet);
  const dataDir = o.dataDir ?? '.flotilla/cni/ipam';
  const bridge = o.bridge ?? 'flo0';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) badOption('bridge', 'an interface name (at most 15 characters)', bridge);
  const gateway = formatIPv4(cidrAddress(subnet, 1));
  return {
    cniVersion: o.cniVersion ?? '1.0.0',
    name: o.name ?? 'flotilla',
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: o.subnet, gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: dataDir.startsWith('/') ? dataDir : `${HOME_TOKEN}/${dataDir}`,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}
