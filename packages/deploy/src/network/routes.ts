/**
 * host-gw routes (flannel's backend of that name): on each host, a route to every other Ready
 * host's pod subnet via that host's address. The routes Flotilla owns carry their own routing
 * protocol number ({@link ROUTE_PROTO}), so a sync replaces exactly those and never touches a
 * route someone else made.
 */
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { cidrsOverlap, formatCidr, parseCidr, parseIPv4, formatIPv4 } from './ip.js';
import { runPrivileged } from './privileged.js';

/** The routing protocol number (`ip route … proto 73`) that marks Flotilla's routes. */
export const ROUTE_PROTO = 73;

/** One route: a subnet via a gateway address, or (for the service CIDR) out of a device. */
export interface PodRoute {
  /** `a.b.c.d/p`, the network address. */
  subnet: string;
  /** The next hop: the other host's address. */
  via?: string;
  /** The device, for routes without a gateway (as read back from the host). */
  dev?: string;
}

/** Options of {@link syncRoutes}. */
export interface SyncRoutesOptions {
  /** Every route this host should have (the other Ready hosts' subnets via their addresses); any other route Flotilla owns is removed. */
  routes: PodRoute[];
  /**
   * The service CIDR. On a host without a default route, a process there (not in a pod) could
   * not even send to a VIP (no route, so no packet for the DNAT rules to see): the CIDR is then
   * routed out of the host's first interface with a global address (not `flo0`). Nothing is added
   * when a default route exists. @default none
   */
  serviceCIDR?: string;
  signal?: AbortSignal;
}

/** What {@link syncRoutes} did. */
export interface SyncRoutesResult {
  host: string;
  /** Flotilla's routes on the host afterwards. */
  routes: PodRoute[];
  /** Routes that were not there before (or had another next hop). */
  added: PodRoute[];
  /** Routes that were there and are no longer. */
  removed: PodRoute[];
}

function checkRoutes(routes: unknown, serviceCIDR: unknown): PodRoute[] {
  if (!Array.isArray(routes)) badOption('routes', 'an array of { subnet, via }', routes);
  const out: PodRoute[] = [];
  const seen = new Map<string, string>();
  routes.forEach((r: unknown, i) => {
    const rr = (typeof r === 'object' && r !== null ? r : {}) as Partial<PodRoute>;
    const c = typeof rr.subnet === 'string' ? parseCidr(rr.subnet) : undefined;
    if (!c) badOption(`routes[${i}].subnet`, 'an IPv4 network like 10.244.1.0/24 (host bits zero)', rr.subnet);
    if (typeof rr.via !== 'string' || parseIPv4(rr.via) === undefined) badOption(`routes[${i}].via`, 'an IPv4 address (the other host)', rr.via);
    const subnet = formatCidr(c);
    const prev = seen.get(subnet);
    if (prev !== undefined && prev !== rr.via) throw new TypeError(`Expected one next hop per subnet, got ${subnet} via ${prev} and via ${rr.via} (routes[${i}])`);
    if (prev === undefined) out.push({ subnet, via: rr.via });
    seen.set(subnet, rr.via);
  });
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      if (cidrsOverlap(parseCidr(out[i]!.subnet)!, parseCidr(out[j]!.subnet)!)) throw new TypeError(`Expected routes to disjoint subnets, got ${out[i]!.subnet} and ${out[j]!.subnet}, which overlap`);
    }
  }
  if (serviceCIDR !== undefined && (typeof serviceCIDR !== 'string' || !parseCidr(serviceCIDR))) badOption('serviceCIDR', 'an IPv4 network like 10.96.0.0/16', serviceCIDR);
  return out;
}

/** Parses `ip -4 route show proto 73` (pure; exported for tests). */
export function parseRoutes(text: string): PodRoute[] {
  const out: PodRoute[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (!words[0]) continue;
    const dst = words[0].includes('/') ? words[0] : `${words[0]}/32`;
    const c = parseCidr(dst, { strict: false });
    if (!c) continue;
    const r: PodRoute = { subnet: formatCidr(c) };
    const via = words.indexOf('via');
    const dev = words.indexOf('dev');
    if (via >= 0 && words[via + 1]) r.via = words[via + 1]!;
    else if (dev >= 0 && words[dev + 1]) r.dev = words[dev + 1]!;
    out.push(r);
  }
  return out;
}

const key = (r: PodRoute): string => `${r.subnet} ${r.via ?? `dev ${r.dev ?? ''}`}`;

/** The difference between two route lists (pure). */
export function diffRoutes(before: readonly PodRoute[], after: readonly PodRoute[]): { added: PodRoute[]; removed: PodRoute[] } {
  const b = new Set(before.map(key));
  const a = new Set(after.map(key));
  return { added: after.filter((r) => !b.has(key(r))), removed: before.filter((r) => !a.has(key(r))) };
}

/** The sh script of a sync (pure; exported for tests). */
export function syncRoutesScript(routes: readonly PodRoute[], serviceCIDR?: string): string {
  const want = routes.map((r) => r.subnet);
  const lines = [
    `P=${ROUTE_PROTO}`,
    'echo @before; ip -4 route show proto $P',
    `want=" ${want.join(' ')} "`,
    ...routes.map((r) => `e=$(ip route replace ${r.subnet} via ${r.via!} proto $P 2>&1) || echo "@error ${r.subnet} via ${r.via!}: $e"`),
  ];
  if (serviceCIDR) {
    const s = formatCidr(parseCidr(serviceCIDR)!);
    lines.push(
      'if [ -z "$(ip -4 route show default)" ]; then',
      `  dev=$(ip -4 -o addr show scope global | awk '$2 != "flo0" { print $2; exit }')`,
      `  if [ -n "$dev" ]; then e=$(ip route replace ${s} dev "$dev" proto $P 2>&1) || echo "@error ${s} dev $dev: $e"; want="$want ${s} "; fi`,
      'fi',
    );
  }
  lines.push(
    // /32 routes read back without their /32.
    'ip -4 route show proto $P | while read -r dst rest; do case "$dst" in */*) k=$dst;; *) k=$dst/32;; esac; case "$want" in *" $k "*) ;; *) e=$(ip route del "$dst" proto $P 2>&1) || echo "@error $dst: $e";; esac; done',
    'echo @after; ip -4 route show proto $P',
  );
  return lines.join('\n');
}

/**
 * Makes the host's Flotilla routes exactly `routes` (plus the service CIDR's, see
 * {@link SyncRoutesOptions.serviceCIDR}): replaces each (idempotent: the same call again
 * changes nothing), removes every other route with {@link ROUTE_PROTO}, in one round trip.
 * Throws `network` listing each route the kernel refused (e.g. a next hop not on a connected
 * network), after doing all the rest.
 */
export async function syncRoutes(c: Connection, o: SyncRoutesOptions): Promise<SyncRoutesResult> {
  const routes = checkRoutes(o.routes, o.serviceCIDR);
  const r = await runPrivileged(c, syncRoutesScript(routes, o.serviceCIDR), { what: 'changing routes', ...(o.signal ? { signal: o.signal } : {}) });
  if (r.exitCode !== 0) throw new DeployError('network', `${c.host}: could not sync routes: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  const before = parseRoutes(section(r.stdout, '@before', '@after'));
  const after = parseRoutes(section(r.stdout, '@after'));
  const errors = r.stdout.split('\n').filter((l) => l.startsWith('@error ')).map((l) => l.slice(7));
  if (errors.length) throw new DeployError('network', `${c.host}: the kernel refused ${errors.length === 1 ? 'a route' : 'routes'}:\n${errors.map((e) => `  - ${e}`).join('\n')}\n(a next hop must be on a network the host is connected to)`, { host: c.host });
  return { host: c.host, routes: after, ...diffRoutes(before, after) };
}

function section(text: string, start: string, end?: string): string {
  const lines = text.split('\n');
  const i = lines.indexOf(start);
  const j = end ? lines.indexOf(end) : lines.length;
  return lines.slice(i + 1, j < 0 ? lines.length : j).filter((l) => !l.startsWith('@error ')).join('\n');
}

/** The address `n` of a subnet, e.g. the gateway (1) of a pod subnet. */
export function subnetAddress(subnet: string, n: number): string {
  const c = parseCidr(subnet, { strict: false });
  if (!c) badOption('subnet', 'an IPv4 network like 10.244.1.0/24', subnet);
  return formatIPv4((c.base + n) >>> 0);
}
