/**
 * A pod's network: its own network namespace on the host (`/run/netns/flo-<name>`, loopback up),
 * attached to the host's pod subnet by the CNI chain of {@link podNetworkConfig}; and the
 * resolv.conf its containers get. Each call is one round trip, as root (sudo when needed).
 */
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { shellQuote } from '../quote.js';
import { cniAdd, cniCheck, cniDel, podNetworkConfig, type CniResult, type PodNetworkConfigOptions } from './cni.js';
import { isIPv4 } from './ip.js';
import { runPrivileged } from './privileged.js';

/** How a host attaches pods (from its Network and its subnet lease). */
export interface PodNetworkOptions extends Omit<PodNetworkConfigOptions, 'name'> {
  /** The CNI network's name. @default 'flotilla' */
  networkName?: string;
  /** Where the plugins are (Host `spec.cniBinDir`); saved with the attachment, so DEL and CHECK run the same plugins. @default '/usr/lib/cni' */
  binDir?: string;
  /** Host ports to forward to the pod (portmap). */
  portMappings?: { hostPort: number; containerPort: number; protocol?: 'tcp' | 'udp' }[];
  /** The text of the pod's /etc/resolv.conf (see {@link podResolvConf}); written on the host, its path returned. */
  resolvConf?: string;
  signal?: AbortSignal;
}

/** A pod's attachment. */
export interface PodAttachment {
  /** The pod's address. */
  podIP: string;
  /** The bridge's address (the subnet's first): the pod's default route, and where DNS answers. */
  gateway: string;
  /** The namespace's path on the host, for runc's config (`linux.namespaces` network path). */
  netns: string;
  result: CniResult;
  /** The host file holding the pod's resolv.conf, when `resolvConf` was given. */
  resolvConfPath?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,58}$/;

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) badOption('name', 'a pod name of letters, digits, ".", "_" and "-" (at most 59)', name);
}

/** The network namespace path of pod `name` on its host. */
export function podNetnsPath(name: string): string {
  checkName(name);
  return `/run/netns/flo-${name}`;
}

/**
 * Shell (as root) that makes the pods' bridge when it is absent and pins its MAC address. A
 * Linux bridge whose address was never set takes the lowest of its ports' addresses, so it
 * changes as pods come and go — and the CNI bridge plugin's CHECK compares the bridge's MAC with
 * the one its ADD recorded ("Bridge interface flo0 Mac doesn't match"). Setting the address
 * (to the one it has) makes it the bridge's own (`addr_assign_type` 3) for good.
 */
export function bridgeWithFixedAddress(bridge: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) badOption('bridge', 'an interface name (at most 15 characters)', bridge);
  const b = shellQuote(bridge);
  return [
    `ip link show ${b} >/dev/null 2>&1 || ip link add ${b} type bridge || exit 1`,
    `[ "$(cat /sys/class/net/${bridge}/addr_assign_type 2>/dev/null)" = 3 ] || ip link set ${b} address "$(cat /sys/class/net/${bridge}/address)" || exit 1`,
  ].join('\n');
}

/**
 * Creates pod `name`'s network namespace (kept when it exists: a retry) and runs CNI ADD on it.
 * A failed ADD is deleted again and the namespace removed.
 */
export async function attachPodNetwork(c: Connection, name: string, o: PodNetworkOptions): Promise<PodAttachment> {
  checkName(name);
  const network = podNetworkConfig({ ...o, ...(o.networkName ? { name: o.networkName } : {}) });
  const ns = podNetnsPath(name);
  const nsName = `flo-${name}`;
  const resolv = o.resolvConf === undefined ? '' : [
    'mkdir -p "$H/.flotilla/cni/resolv" || exit 1',
    `printf '%s' ${shellQuote(o.resolvConf)} > "$H/.flotilla/cni/resolv/${name}.conf" && chmod 644 "$H/.flotilla/cni/resolv/${name}.conf" || exit 1`,
    `echo "@@resolv $H/.flotilla/cni/resolv/${name}.conf"`,
  ].join('\n');
  // Attached already (a retry, or a new version of the pod's container): the saved result, no second ADD.
  const saved = `"$H/.flotilla/cni/${network.name}/${name}-eth0/result"`;
  const made = await runPrivileged(
    c,
    [`[ -e ${ns} ] || ip netns add ${shellQuote(nsName)} || exit 1`, `ip -n ${shellQuote(nsName)} link set lo up || exit 1`, bridgeWithFixedAddress(o.bridge ?? 'flo0'), resolv, `if [ -f ${saved} ]; then printf '@@saved %s\n' "$(tr -d '\n' < ${saved})"; fi`].join('\n'),
    { what: 'pod networking', ...(o.signal ? { signal: o.signal } : {}) },
  );
  if (made.exitCode !== 0) throw new DeployError('network', `${c.host}: could not make the network namespace of pod ${name}: ${made.stderr.trim() || `exit code ${made.exitCode}`}`, { host: c.host });
  const resolvConfPath = /^@@resolv (.*)$/m.exec(made.stdout)?.[1];
  const savedText = /^@@saved (.*)$/m.exec(made.stdout)?.[1];
  let result: CniResult;
  if (savedText) {
    result = JSON.parse(savedText) as CniResult;
  } else {
    try {
      result = await cniAdd(c, network, {
        containerId: name,
        netns: ns,
        ...(o.binDir ? { binDir: o.binDir } : {}),
        ...(o.portMappings?.length ? { capabilityArgs: { portMappings: o.portMappings.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol ?? 'tcp' })) } } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      await runPrivileged(c, `ip netns del ${shellQuote(nsName)} 2>/dev/null; true`).catch(() => undefined);
      throw e;
    }
  }
  const ip = result.ips?.find((x) => x.address.includes('.'));
  const podIP = ip?.address.split('/')[0];
  if (!podIP || !isIPv4(podIP)) throw new DeployError('cni', `${c.host}: CNI ADD for pod ${name} returned no IPv4 address: ${JSON.stringify(result.ips ?? [])}`, { host: c.host });
  return { podIP, gateway: ip?.gateway ?? '', netns: ns, result, ...(resolvConfPath ? { resolvConfPath } : {}) };
}

/**
 * CNI DEL of pod `name` from the state its ADD saved (it works after the caller forgot, and
 * after the host was away), then removes its namespace. The plugins run from the directory the
 * ADD ran them from (saved with its state), even when the Host's `spec.cniBinDir` changed since;
 * `binDir` counts only when nothing was saved or that directory is gone. Idempotent: `'absent'`
 * when there was nothing to delete.
 */
export async function detachPodNetwork(c: Connection, name: string, o: { networkName?: string; binDir?: string; signal?: AbortSignal } = {}): Promise<'deleted' | 'absent'> {
  checkName(name);
  const outcome = await cniDel(c, o.networkName ?? 'flotilla', { containerId: name, ...(o.binDir ? { binDir: o.binDir } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const r = await runPrivileged(c, `if [ -e ${podNetnsPath(name)} ]; then ip netns del ${shellQuote(`flo-${name}`)} && echo removed; fi`, { what: 'pod networking' });
  if (r.exitCode !== 0) throw new DeployError('network', `${c.host}: could not remove the network namespace of pod ${name}: ${r.stderr.trim()}`, { host: c.host });
  return outcome === 'deleted' || r.stdout.includes('removed') ? 'deleted' : 'absent';
}

/**
 * CNI CHECK of pod `name`'s attachment: `'ok'`, `'absent'`, or a `CniError` naming what is broken.
 * As for DEL, the plugins run from the directory the ADD saved; `binDir` when there is none.
 */
export function checkPodNetwork(c: Connection, name: string, o: { networkName?: string; binDir?: string; signal?: AbortSignal } = {}): Promise<'ok' | 'absent'> {
  checkName(name);
  return cniCheck(c, o.networkName ?? 'flotilla', { containerId: name, ...(o.binDir ? { binDir: o.binDir } : {}), ...(o.signal ? { signal: o.signal } : {}) });
}

/**
 * The `/etc/resolv.conf` of a pod's containers (pure): the DNS server on the host's bridge
 * address (DESIGN.md: each host answers on its bridge address, port 53), `search <domain>`.
 */
export function podResolvConf(o: { nameserver: string; search?: string[]; ndots?: number }): string {
  if (!isIPv4(o.nameserver)) badOption('nameserver', 'an IPv4 address (the host bridge address)', o.nameserver);
  const search = o.search ?? [];
  for (const d of search) if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(d)) badOption('search', 'DNS domains', d);
  return `nameserver ${o.nameserver}\n${search.length ? `search ${search.join(' ')}\n` : ''}options ndots:${o.ndots ?? 2}\n`;
}
