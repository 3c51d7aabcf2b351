/**
 * What each host's network should be, as a pure function of the store (kube-proxy's idea:
 * render the whole state every time, never edit incrementally):
 * - routes: every other Ready host's pod subnet via that host's address (host-gw);
 * - service rules: each `ports` entry of each service with a virtual IP → its endpoints on
 *   Ready hosts (not ready = not an endpoint; a NotReady host's endpoints leave every VIP);
 * - DNS: the record table, answered on the host's bridge address (its subnet's first address).
 * Hosts that are not Ready, or hold no subnet yet, get no plan.
 */
import type { Host, NetworkSpec, Service } from '../manifest/types.js';
import { containsIp, formatIpv4, parseCidr, parseIpv4 } from './cidr.js';
import { dnsRecordTable, type DnsRecordTable } from './dns.js';

/** One virtual IP and port with its endpoints (`@flotilla/deploy/network`'s `ServiceVip`). */
export interface PlannedVip {
  /** `<service>/<port name or number>`. */
  name: string;
  vip: string;
  port: number;
  protocol: 'tcp';
  endpoints: { ip: string; port: number }[];
}

/** One host's network. */
export interface HostNetworkPlan {
  host: string;
  /** The host's own pod subnet. */
  podSubnet: string;
  /** The bridge's address (the subnet's first address): the pods' gateway and the DNS resolver's. */
  bridgeAddress: string;
  /** The Network's serviceCIDR (a host without a default route gets a route for it, so its own processes reach the VIPs). */
  serviceCIDR: string;
  /** The other Ready hosts' subnets via their addresses, sorted by host name. */
  routes: { subnet: string; via: string }[];
  services: PlannedVip[];
  /**
   * Masquerade hairpin traffic (a pod reaching itself through its VIP): only when some
   * endpoint is a pod IP. A process endpoint is its host's own address, and masquerading a
   * host's own connection to itself would break it (the reply would go to the loopback address).
   */
  hairpin: boolean;
  dns: DnsRecordTable;
}

/** A host the plan could not include, and why (e.g. its address is not an IPv4 address). */
export interface PlanProblem {
  host: string;
  message: string;
}

/**
 * Plans every Ready host with a subnet. `addressOf` gives a host's address as the others
 * reach it (host-gw needs an IPv4 address on the shared segment).
 */
export function planHostNetworks(network: NetworkSpec, hosts: readonly Host[], services: readonly Service[], addressOf: (h: Host) => string): { plans: HostNetworkPlan[]; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const ready: { host: Host; subnet: string; address: string }[] = [];
  for (const h of [...hosts].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const subnet = h.status?.podSubnet;
    if (h.status?.ready !== true || subnet === undefined || h.metadata.deletionTimestamp !== undefined) continue;
    const address = addressOf(h);
    if (typeof parseIpv4(address) === 'string') {
      problems.push({ host: h.metadata.name, message: `host-gw routes go via a host's IPv4 address, and ${h.metadata.name}'s address is ${JSON.stringify(address)}: set spec.address to its IPv4 address on the hosts' network` });
      continue;
    }
    ready.push({ host: h, subnet, address });
  }
  const readyNames = new Set(ready.map((r) => r.host.metadata.name));
  const vips: PlannedVip[] = [];
  for (const s of [...services].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
    const vip = s.status?.clusterIP;
    if (vip === undefined || !s.spec.ports) continue;
    const endpoints = (s.status?.endpoints ?? []).filter((e) => e.host === undefined || readyNames.has(e.host));
    for (const p of s.spec.ports) {
      const key = p.name ?? String(p.port);
      vips.push({
        name: `${s.metadata.name}/${key}`,
        vip,
        port: p.port,
        protocol: 'tcp',
        endpoints: endpoints.flatMap((e) => (e.ports?.[key] !== undefined ? [{ ip: e.address, port: e.ports[key] }] : [])),
      });
    }
  }
  // DNS answers only with what is reachable: endpoints on Ready hosts
  const visible = services.map((s) => (s.status ? { ...s, status: { ...s.status, endpoints: s.status.endpoints.filter((e) => e.host === undefined || readyNames.has(e.host)) } } : s));
  const dns = dnsRecordTable(network, visible);
  const pod = parseCidr(network.podCIDR);
  const hairpin = typeof pod !== 'string' && vips.some((v) => v.endpoints.some((e) => { const ip = parseIpv4(e.ip); return typeof ip === 'number' && containsIp(pod, ip); }));
  const plans = ready.map(({ host, subnet }): HostNetworkPlan => {
    const c = parseCidr(subnet);
    const bridgeAddress = typeof c === 'string' ? '' : formatIpv4(c.base + 1);
    return {
      host: host.metadata.name,
      podSubnet: subnet,
      bridgeAddress,
      serviceCIDR: network.serviceCIDR,
      routes: ready.filter((r) => r.host !== host).map((r) => ({ subnet: r.subnet, via: r.address })),
      services: vips,
      hairpin,
      dns,
    };
  });
  return { plans, problems };
}
