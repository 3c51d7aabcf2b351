/**
 * Service virtual IPs in the kernel (kube-proxy's idea, nftables or iptables): packets to
 * `VIP:port` are DNATed to one of the service's ready endpoints, chosen at random with equal
 * shares; a VIP with no endpoint rejects at once (connection refused, not a timeout).
 *
 * Guarantees:
 * - **Whole, not incremental.** The rules are rendered from the complete list of services by
 *   a pure function ({@link renderNftRules}, {@link renderIptablesRules}) and applied in one
 *   transaction: with nftables one `nft -f` file that deletes and recreates Flotilla's table
 *   (`ip flotilla`), so there is never a moment with no rules or with half of them; with
 *   iptables one `iptables-restore --noflush` per table, as kube-proxy does. Stale chains
 *   (services that went away) go in the same transaction.
 * - **Only our own.** Nothing outside the `flotilla` nft table (or the `FLO-` iptables chains
 *   and the jumps to them) is read or changed.
 * - **Hairpin.** A client that is itself the chosen endpoint reaches itself: its packet is
 *   marked and masqueraded (with CNI's `hairpinMode` on the bridge port), as kube-proxy does.
 */
import { createHash } from 'node:crypto';
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { parseIPv4 } from './ip.js';
import { runPrivileged } from './privileged.js';

/** One endpoint of a service: an instance's address (pod IP or host address) and port. */
export interface ServiceEndpoint {
  ip: string;
  port: number;
}

/** One service port on a virtual IP. */
export interface ServiceVip {
  /** For comments and errors: e.g. `web:http` (letters, digits and `._:/-` are kept; others become `_`). */
  name: string;
  vip: string;
  port: number;
  /** @default 'tcp' */
  protocol?: 'tcp' | 'udp';
  /** The ready endpoints; none = connections to VIP:port are refused. */
  endpoints: ServiceEndpoint[];
}

/** Input of the renderers and of {@link applyServiceRules}. */
export interface ServiceRulesInput {
  services: ServiceVip[];
  /** Masquerade a client that the DNAT sent to itself. @default true */
  hairpin?: boolean;
}

/** The table (nft) and chain prefix (iptables) that are Flotilla's. */
export const NFT_TABLE = 'flotilla';
export const IPTABLES_PREFIX = 'FLO-';
/** The packet mark bit that asks for masquerading (kube-proxy uses the same bit). */
export const MASQ_MARK = 0x4000;

interface PlannedService {
  id: string;
  name: string;
  vip: string;
  port: number;
  protocol: 'tcp' | 'udp';
  endpoints: ServiceEndpoint[];
}

/** Checks and normalises the input (every problem at once); pure. */
export function planServiceRules(input: ServiceRulesInput): { services: PlannedService[]; hairpin: boolean } {
  if (typeof input !== 'object' || input === null || !Array.isArray(input.services)) badOption('services', 'an array of { name, vip, port, protocol, endpoints }', (input as Partial<ServiceRulesInput> | null)?.services);
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const services: PlannedService[] = [];
  input.services.forEach((s, i) => {
    const at = `services[${i}]`;
    if (typeof s !== 'object' || s === null) return problems.push(`${at}: expected an object`);
    if (typeof s.name !== 'string' || !s.name) problems.push(`${at}.name: expected a non-empty string`);
    if (typeof s.vip !== 'string' || parseIPv4(s.vip) === undefined) problems.push(`${at}.vip: expected an IPv4 address, got ${JSON.stringify(s.vip)}`);
    if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) problems.push(`${at}.port: expected 1..65535, got ${JSON.stringify(s.port)}`);
    const protocol = s.protocol ?? 'tcp';
    if (protocol !== 'tcp' && protocol !== 'udp') problems.push(`${at}.protocol: expected tcp or udp, got ${JSON.stringify(s.protocol)}`);
    if (!Array.isArray(s.endpoints)) problems.push(`${at}.endpoints: expected an array of { ip, port }`);
    const eps: ServiceEndpoint[] = [];
    const epSeen = new Set<string>();
    (Array.isArray(s.endpoints) ? s.endpoints : []).forEach((e, j) => {
      const eat = `${at}.endpoints[${j}]`;
      if (typeof e?.ip !== 'string' || parseIPv4(e.ip) === undefined) return problems.push(`${eat}.ip: expected an IPv4 address, got ${JSON.stringify(e?.ip)}`);
      if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return problems.push(`${eat}.port: expected 1..65535, got ${JSON.stringify(e.port)}`);
      const k = `${e.ip}:${e.port}`;
      if (!epSeen.has(k)) eps.push({ ip: e.ip, port: e.port });
      epSeen.add(k);
    });
    const k = `${s.vip} ${protocol} ${s.port}`;
    const other = seen.get(k);
    if (other !== undefined) problems.push(`${at}: ${s.vip}:${s.port}/${protocol} is also ${other}'s; one VIP port belongs to one service`);
    seen.set(k, s.name);
    const id = createHash('sha256').update(k).digest('hex').slice(0, 12);
    // Sorted, so the same set of endpoints renders the same rules whatever their order.
    eps.sort((a, b) => (parseIPv4(a.ip)! - parseIPv4(b.ip)!) || a.port - b.port);
    services.push({ id, name: String(s.name), vip: s.vip, port: s.port, protocol, endpoints: eps });
  });
  if (problems.length) throw new TypeError(`Invalid service rules:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  services.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { services, hairpin: input.hairpin ?? true };
}

function comment(text: string): string {
  return text.replace(/[^A-Za-z0-9._:/-]/g, '_').slice(0, 120);
}

/**
 * The nftables script that replaces Flotilla's table with the rules for `input` in one
 * transaction (pure). Layout: `services` looks `daddr . l4proto . dport` up in the map
 * `service-ips` and jumps to the service's chain, which picks an endpoint chain with
 * `numgen random mod N`; the endpoint chain marks hairpin traffic and DNATs.
 */
export function renderNftRules(input: ServiceRulesInput): string {
  const plan = planServiceRules(input);
  const withEps = plan.services.filter((s) => s.endpoints.length > 0);
  const noEps = plan.services.filter((s) => s.endpoints.length === 0);
  const out: string[] = [];
  out.push(`table ip ${NFT_TABLE} {}`, `delete table ip ${NFT_TABLE}`, `table ip ${NFT_TABLE} {`);
  out.push('  map service-ips {', '    type ipv4_addr . inet_proto . inet_service : verdict');
  if (withEps.length) out.push(`    elements = { ${withEps.map((s) => `${s.vip} . ${s.protocol} . ${s.port} : goto svc-${s.id}`).join(',\n      ')} }`);
  out.push('  }');
  out.push('  set no-endpoints {', '    type ipv4_addr . inet_proto . inet_service');
  if (noEps.length) out.push(`    elements = { ${noEps.map((s) => `${s.vip} . ${s.protocol} . ${s.port}`).join(',\n      ')} }`);
  out.push('  }');
  out.push('  chain services {', '    ip daddr . meta l4proto . th dport vmap @service-ips', '  }');
  out.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    jump services', '  }');
  out.push('  chain output {', '    type nat hook output priority -100; policy accept;', '    jump services', '  }');
  out.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  if (plan.hairpin) out.push(`    meta mark & 0x${MASQ_MARK.toString(16)} == 0x${MASQ_MARK.toString(16)} masquerade`);
  out.push('  }');
  // A VIP port without endpoints: refused at once (tcp reset / icmp port unreachable).
  for (const hook of ['input', 'forward', 'output']) {
    out.push(`  chain reject-${hook} {`, `    type filter hook ${hook} priority -10; policy accept;`, '    ip daddr . meta l4proto . th dport @no-endpoints reject', '  }');
  }
  for (const s of withEps) {
    const n = s.endpoints.length;
    out.push(`  chain svc-${s.id} {`);
    out.push(`    numgen random mod ${n} vmap { ${s.endpoints.map((_, i) => `${i} : goto ep-${s.id}-${i}`).join(', ')} } comment "${comment(`${s.name} ${s.vip}:${s.port}/${s.protocol}`)}"`);
    out.push('  }');
    s.endpoints.forEach((e, i) => {
      out.push(`  chain ep-${s.id}-${i} {`);
      if (plan.hairpin) out.push(`    ip saddr ${e.ip} meta mark set meta mark | 0x${MASQ_MARK.toString(16)}`);
      out.push(`    meta l4proto ${s.protocol} dnat to ${e.ip}:${e.port}`, '  }');
    });
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** The nft script that removes Flotilla's table (and nothing else); harmless when it is absent. */
export function renderNftRemoval(): string {
  return `table ip ${NFT_TABLE} {}\ndelete table ip ${NFT_TABLE}\n`;
}

/** The chains an iptables ruleset defines, by table (pure; for stale-chain removal). */
export interface IptablesRules {
  nat: string;
  filter: string;
  /** Every FLO- chain of the nat table in `nat`. */
  natChains: string[];
  filterChains: string[];
}

function probability(n: number, i: number): string {
  // kube-proxy's scheme: the i-th of n rules takes 1/(n-i) of what reaches it, so each gets 1/n.
  return (1 / (n - i)).toFixed(10);
}

/**
 * iptables-restore input for `input` (pure): the nat table's `FLO-SERVICES` (jumped to from
 * PREROUTING and OUTPUT), a `FLO-SVC-…` chain per service choosing an endpoint with
 * `-m statistic --mode random --probability 1/(n-i)`, a `FLO-SEP-…` chain per endpoint, and
 * `FLO-POSTROUTING` masquerading marked (hairpin) packets; the filter table's `FLO-NOEP`
 * rejects VIP ports without endpoints. Each text lacks its `COMMIT` (the applier adds stale
 * chains first).
 */
export function renderIptablesRules(input: ServiceRulesInput): IptablesRules {
  const plan = planServiceRules(input);
  const natChains = [`${IPTABLES_PREFIX}SERVICES`, `${IPTABLES_PREFIX}POSTROUTING`];
  const rules: string[] = [];
  for (const s of plan.services) {
    if (!s.endpoints.length) continue;
    const svc = `${IPTABLES_PREFIX}SVC-${s.id.toUpperCase()}`;
    natChains.push(svc);
    rules.push(`-A ${IPTABLES_PREFIX}SERVICES -d ${s.vip}/32 -p ${s.protocol} -m ${s.protocol} --dport ${s.port} -m comment --comment "${comment(`${s.name} ${s.vip}:${s.port}/${s.protocol}`)}" -j ${svc}`);
    const n = s.endpoints.length;
    s.endpoints.forEach((e, i) => {
      const sep = `${IPTABLES_PREFIX}SEP-${s.id.toUpperCase()}-${i}`;
      natChains.push(sep);
      rules.push(i < n - 1 ? `-A ${svc} -m statistic --mode random --probability ${probability(n, i)} -j ${sep}` : `-A ${svc} -j ${sep}`);
      if (plan.hairpin) rules.push(`-A ${sep} -s ${e.ip}/32 -j MARK --set-xmark 0x${MASQ_MARK.toString(16)}/0x${MASQ_MARK.toString(16)}`);
      rules.push(`-A ${sep} -p ${s.protocol} -m ${s.protocol} -j DNAT --to-destination ${e.ip}:${e.port}`);
    });
  }
  if (plan.hairpin) rules.push(`-A ${IPTABLES_PREFIX}POSTROUTING -m mark --mark 0x${MASQ_MARK.toString(16)}/0x${MASQ_MARK.toString(16)} -j MASQUERADE`);
  const nat = ['*nat', ...natChains.map((c) => `:${c} - [0:0]`), ...rules].join('\n');
  const filterChains = [`${IPTABLES_PREFIX}NOEP`];
  const filter = [
    '*filter',
    `:${IPTABLES_PREFIX}NOEP - [0:0]`,
    ...plan.services.filter((s) => !s.endpoints.length).map((s) => `-A ${IPTABLES_PREFIX}NOEP -d ${s.vip}/32 -p ${s.protocol} -m ${s.protocol} --dport ${s.port} -m comment --comment "${comment(`${s.name} has no endpoints`)}" -j REJECT`),
  ].join('\n');
  return { nat: `${nat}\n`, filter: `${filter}\n`, natChains, filterChains };
}

const HEREDOC = 'FLOTILLA_RULES_EOF';

/** The jumps from built-in chains into ours (table, built-in chain, our chain). */
const IPTABLES_JUMPS: [string, string, string][] = [
  ['nat', 'PREROUTING', `${IPTABLES_PREFIX}SERVICES`],
  ['nat', 'OUTPUT', `${IPTABLES_PREFIX}SERVICES`],
  ['nat', 'POSTROUTING', `${IPTABLES_PREFIX}POSTROUTING`],
  ['filter', 'INPUT', `${IPTABLES_PREFIX}NOEP`],
  ['filter', 'FORWARD', `${IPTABLES_PREFIX}NOEP`],
  ['filter', 'OUTPUT', `${IPTABLES_PREFIX}NOEP`],
];

/** The sh script that applies `rules` with iptables-restore (pure; exported for tests). */
export function iptablesApplyScript(rules: IptablesRules | undefined): string {
  // Stale chains: ours in the table now and not in the new rules are all flushed, then all deleted (a chain
  // still referenced by another not yet flushed cannot be deleted), in the same restore.
  const stale = (table: string, keep: string[]): string =>
    `s=$(iptables-save -t ${table} | sed -n 's/^:\\(${IPTABLES_PREFIX}[^ ]*\\) .*/\\1/p' | grep -vxF -e ${keep.map((k) => `'${k}'`).join(' -e ') || "''"}); for c in $s; do echo ":$c - [0:0]"; done; for c in $s; do echo "-X $c"; done`;
  if (!rules) {
    // Removal: the jumps first, then every chain of ours.
    return [
      ...IPTABLES_JUMPS.map(([t, b, c]) => `while iptables -t ${t} -D ${b} -j ${c} 2>/dev/null; do :; done`),
      `{ echo '*nat'; ${stale('nat', [])}; echo COMMIT; echo '*filter'; ${stale('filter', [])}; echo COMMIT; } | iptables-restore --noflush || exit 1`,
    ].join('\n');
  }
  return [
    `{ cat <<'${HEREDOC}'`,
    rules.nat.trimEnd(),
    HEREDOC,
    stale('nat', rules.natChains),
    'echo COMMIT',
    `cat <<'${HEREDOC}'`,
    rules.filter.trimEnd(),
    HEREDOC,
    stale('filter', rules.filterChains),
    'echo COMMIT',
    '} | iptables-restore --noflush || exit 1',
    ...IPTABLES_JUMPS.map(([t, b, c]) => `iptables -t ${t} -C ${b} -j ${c} 2>/dev/null || iptables -t ${t} -I ${b} -j ${c} || exit 1`),
  ].join('\n');
}

/** Options of {@link applyServiceRules}. */
export interface ApplyServiceRulesOptions extends ServiceRulesInput {
  /** Which firewall to write: from {@link detectNetworkTools}. @default 'nft' when `nft` is on the host, else 'iptables' */
  firewall?: 'nft' | 'iptables';
  signal?: AbortSignal;
}

function firewallChoice(firewall: unknown): string {
  if (firewall === undefined) return 'if command -v nft >/dev/null 2>&1; then fw=nft; else fw=iptables; fi';
  if (firewall !== 'nft' && firewall !== 'iptables') badOption('firewall', "'nft' or 'iptables'", firewall);
  return `fw=${firewall}`;
}

/**
 * Replaces the host's service rules with those for `services` (see the module's guarantees),
 * in one round trip and one kernel transaction. `services: []` leaves an empty table (every
 * VIP gone); {@link removeServiceRules} removes the table itself.
 */
export async function applyServiceRules(c: Connection, o: ApplyServiceRulesOptions): Promise<{ host: string; firewall: 'nft' | 'iptables'; services: number; endpoints: number }> {
  const plan = planServiceRules(o);
  const choose = firewallChoice(o.firewall);
  const nft = renderNftRules(o);
  const ipt = renderIptablesRules(o);
  const script = [
    choose,
    'echo "firewall $fw"',
    'if [ "$fw" = nft ]; then',
    `nft -f - <<'${HEREDOC}' || exit 1`,
    nft.trimEnd(),
    HEREDOC,
    'else',
    iptablesApplyScript(ipt),
    'fi',
  ].join('\n');
  const r = await runPrivileged(c, script, { what: 'writing service rules', ...(o.signal ? { signal: o.signal } : {}) });
  const fw = /^firewall (nft|iptables)$/m.exec(r.stdout)?.[1] as 'nft' | 'iptables' | undefined;
  if (r.exitCode !== 0 || !fw) throw new DeployError('network', `${c.host}: could not write service rules${fw ? ` with ${fw}` : ''}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
  return { host: c.host, firewall: fw, services: plan.services.length, endpoints: plan.services.reduce((n, s) => n + s.endpoints.length, 0) };
}

/** Removes every service rule of Flotilla's from the host (the nft table, or the FLO- chains and their jumps). Idempotent. */
export async function removeServiceRules(c: Connection, o: { firewall?: 'nft' | 'iptables'; signal?: AbortSignal } = {}): Promise<void> {
  const script = [
    firewallChoice(o.firewall),
    'if [ "$fw" = nft ]; then',
    `nft -f - <<'${HEREDOC}' || exit 1`,
    renderNftRemoval().trimEnd(),
    HEREDOC,
    'else',
    iptablesApplyScript(undefined),
    'fi',
  ].join('\n');
  const r = await runPrivileged(c, script, { what: 'removing service rules', ...(o.signal ? { signal: o.signal } : {}) });
  if (r.exitCode !== 0) throw new DeployError('network', `${c.host}: could not remove service rules: ${r.stderr.trim() || `exit code ${r.exitCode}`}`, { host: c.host });
}

/** Flotilla's service rules as the host's kernel has them now (`nft list table`, or `iptables-save` of our chains); empty when none. */
export async function readServiceRules(c: Connection, o: { signal?: AbortSignal } = {}): Promise<{ firewall: 'nft' | 'iptables'; text: string }> {
  const r = await runPrivileged(
    c,
    [
      'if command -v nft >/dev/null 2>&1; then echo @nft; nft list table ip flotilla 2>/dev/null; true',
      `else echo @iptables; { iptables-save -t nat; iptables-save -t filter; } | grep -e '${IPTABLES_PREFIX}'; true; fi`,
    ].join('\n'),
    { what: 'reading service rules', ...(o.signal ? { signal: o.signal } : {}) },
  );
  const [head, ...rest] = r.stdout.split('\n');
  return { firewall: head === '@nft' ? 'nft' : 'iptables', text: rest.join('\n') };
}
