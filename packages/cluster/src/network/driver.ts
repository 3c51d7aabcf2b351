/**
 * The seam between the network controller and the hosts: check a host can network, and make
 * its network what a {@link HostNetworkPlan} says (whole state each time: routes, service
 * rules, DNS records). {@link DeployNetworkDriver} does it over ssh (or the local transport)
 * with `@flotilla/deploy/network`; `FakeNetworkDriver` (`./testing`) records plans in memory.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { shellQuote, startService, type Connection } from '@flotilla/deploy';
import { applyServiceRules, bridgeWithFixedAddress, detectNetworkTools, runPrivileged, syncRoutes } from '@flotilla/deploy/network';
import { ClusterError } from '../errors.js';
import type { Host } from '../manifest/types.js';
import { dnsHostProgram } from './dns.js';
import type { HostNetworkPlan } from './plan.js';

/** Makes hosts' networks what the plans say. */
export interface HostNetworkDriver {
  /**
   * What keeps the host from networking (no nft or iptables, no CNI plugins, no root, no
   * node for the resolver), each with its fix; empty when nothing does. Throws when the host
   * cannot be reached.
   */
  check(host: Host, signal?: AbortSignal): Promise<string[]>;
  /**
   * Replaces the host's routes, service rules and DNS records with the plan's (idempotent).
   * With `options.previous` (the plan last applied to the host, successfully), parts equal to
   * it may be left as they are; without it, everything is replaced.
   */
  apply(host: Host, plan: HostNetworkPlan, signal?: AbortSignal, options?: ApplyNetworkOptions): Promise<void>;
}

/** Options of {@link HostNetworkDriver.apply}. */
export interface ApplyNetworkOptions {
  /** The plan last applied to this host: only what differs from it needs sending. */
  previous?: HostNetworkPlan;
}

/** The DNS resolver's directory under the login directory of each host. */
export const DNS_DIR = '.flotilla/dns';

interface ProgramFiles {
  hash: string;
  files: { path: string; content: Buffer }[];
}

let program: ProgramFiles | undefined;

/** The resolver's files (the program and dns-packet) with their paths under its directory, and one hash of them all. */
function programFiles(): ProgramFiles {
  if (program) return program;
  const p = dnsHostProgram();
  const files: { path: string; content: Buffer }[] = [{ path: 'dns-server.mjs', content: readFileSync(p.script) }];
  for (const [name, dir] of Object.entries(p.packages)) {
    const walk = (d: string): void => {
      for (const entry of readdirSync(d)) {
        const full = join(d, entry);
        if (statSync(full).isDirectory()) {
          if (entry !== 'node_modules') walk(full);
        } else files.push({ path: `node_modules/${name}/${relative(dir, full)}`, content: readFileSync(full) });
      }
    };
    walk(dir);
  }
  const h = createHash('sha256');
  for (const f of files) h.update(f.path).update('\0').update(f.content).update('\0');
  program = { hash: h.digest('hex').slice(0, 16), files };
  return program;
}

/** Options of {@link DeployNetworkDriver}. */
export interface DeployNetworkDriverOptions {
  /** A host's connection (e.g. `DeployRuntime.connection`, which keeps one per host). */
  connection: (host: Host) => Connection;
  /** Where the CNI plugins are on a host whose spec does not say (a Host's `spec.cniBinDir` wins). @default '/usr/lib/cni' (Debian's containernetworking-plugins) */
  cniBinDir?: string;
  /** Masquerade hairpin traffic (a pod reaching itself through its service's VIP) where the plan has pod endpoints ({@link HostNetworkPlan.hairpin}); false turns it off everywhere. @default true */
  hairpin?: boolean;
}

/**
 * Drives a host over its `Connection` with `@flotilla/deploy/network`: `syncRoutes` (host-gw),
 * `applyServiceRules` (one nft transaction, or iptables-restore), and the DNS resolver: the
 * bridge `flo0` with the subnet's first address (created when absent, as the CNI bridge
 * plugin would), the resolver's files (content-addressed under `~/.flotilla/dns/<hash>/`),
 * the records file written atomically (the resolver reloads it), and the resolver itself as a
 * supervised service (`flotilla-dns`, as root: it binds port 53).
 */
export class DeployNetworkDriver implements HostNetworkDriver {
  readonly #options: DeployNetworkDriverOptions;
  readonly #firewall = new Map<string, 'nft' | 'iptables'>();

  constructor(options: DeployNetworkDriverOptions) {
    this.#options = options;
  }

  async check(host: Host, signal?: AbortSignal): Promise<string[]> {
    const c = this.#options.connection(host);
    const cniBinDir = host.spec.cniBinDir ?? this.#options.cniBinDir;
    const tools = await detectNetworkTools(c, { ...(cniBinDir !== undefined ? { cniBinDir } : {}), ...(signal ? { signal } : {}) });
    const missing = [...tools.missing];
    if (tools.firewall) this.#firewall.set(host.metadata.name, tools.firewall);
    const node = await c.run('command -v node >/dev/null 2>&1 && node -e "process.exit(Number(process.versions.node.split(\'.\')[0]) >= 18 ? 0 : 1)"', { hide: true, warn: true, ...(signal ? { signal } : {}) });
    if (node.exitCode !== 0) missing.push('node (>= 18) for the DNS resolver: install Node.js on the host (apt-get install -y nodejs)');
    return missing;
  }

  async apply(host: Host, plan: HostNetworkPlan, signal?: AbortSignal, options: ApplyNetworkOptions = {}): Promise<void> {
    const c = this.#options.connection(host);
    const s = signal ? { signal } : {};
    const prev = options.previous;
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    // the VIP rules first: an endpoint that left must stop getting connections soonest
    const hairpin = plan.hairpin && (this.#options.hairpin ?? true);
    if (!prev || !same(prev.services, plan.services) || prev.hairpin !== plan.hairpin) {
      const firewall = this.#firewall.get(host.metadata.name);
      await applyServiceRules(c, { services: plan.services, hairpin, ...(firewall ? { firewall } : {}), ...s });
    }
    if (!prev || !same(prev.routes, plan.routes) || prev.serviceCIDR !== plan.serviceCIDR) await syncRoutes(c, { routes: plan.routes, serviceCIDR: plan.serviceCIDR, ...s });
    if (prev?.bridgeAddress !== plan.bridgeAddress || prev.podSubnet !== plan.podSubnet) await this.#dns(c, plan, signal);
    else if (!same(prev.dns, plan.dns)) await c.writeFile(`${DNS_DIR}/records.json`, `${JSON.stringify(plan.dns)}\n`, s);
  }

  async #dns(c: Connection, plan: HostNetworkPlan, signal?: AbortSignal): Promise<void> {
    const s = signal ? { signal } : {};
    const prefix = plan.podSubnet.split('/')[1];
    const bridge = await runPrivileged(
      c,
      [
        bridgeWithFixedAddress('flo0'),
        `ip -4 addr show dev flo0 | grep -q ${shellQuote(` ${plan.bridgeAddress}/${prefix} `)} || ip addr add ${plan.bridgeAddress}/${prefix} dev flo0 || exit 1`,
        'ip link set flo0 up',
      ].join('\n'),
      { what: 'creating the bridge flo0', ...s },
    );
    if (bridge.exitCode !== 0) throw new ClusterError('runtime-failed', `${c.host}: could not give the bridge flo0 the address ${plan.bridgeAddress}/${prefix}: ${bridge.stderr.trim()}`);
    const files = programFiles();
    const dir = `${DNS_DIR}/${files.hash}`;
    const present = await c.run(`test -f ${dir}/.complete`, { hide: true, warn: true, ...s });
    if (present.exitCode !== 0) {
      const dirs = [...new Set(files.files.map((f) => `${dir}/${f.path}`.replace(/\/[^/]*$/, '')))];
      await c.run(`mkdir -p ${dirs.map(shellQuote).join(' ')}`, { hide: true, ...s });
      for (const f of files.files) await c.writeFile(`${dir}/${f.path}`, f.content, s);
      await c.writeFile(`${dir}/.complete`, files.hash, s);
    }
    await c.writeFile(`${DNS_DIR}/records.json`, `${JSON.stringify(plan.dns)}\n`, s);
    const node = `node "$HOME"/${dir}/dns-server.mjs --listen ${plan.bridgeAddress}:53 --records "$HOME"/${DNS_DIR}/records.json`;
    await startService(c, {
      name: `flotilla-dns-${files.hash.slice(0, 8)}`,
      command: `if [ "$(id -u)" = 0 ]; then exec ${node}; else exec sudo -n env HOME="$HOME" ${node}; fi`,
      restart: 'always',
      gracePeriodSeconds: 2,
    });
  }
}

/** Throws a `ClusterError` naming what the host lacks (see {@link HostNetworkDriver.check}). */
export function assertHostCanNetwork(host: string, missing: readonly string[]): void {
  if (missing.length > 0) throw new ClusterError('dependency-missing', `${host} cannot join the Network: it lacks\n${missing.map((m) => `  - ${m}`).join('\n')}`);
}
