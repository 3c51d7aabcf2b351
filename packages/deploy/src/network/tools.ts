/**
 * What a host has for networking: a firewall to write service rules with (nftables, else
 * iptables), `ip` for routes, the CNI plugins, and root (or passwordless sudo). One round trip.
 */
import type { Connection } from '../connection.js';
import { DeployError, badOption } from '../errors.js';
import { shellQuote } from '../quote.js';
import { SBIN_PATH } from './privileged.js';

/** The CNI plugins pod networking runs. */
export const CNI_PLUGINS = ['bridge', 'host-local', 'portmap', 'loopback'] as const;
export type CniPluginName = (typeof CNI_PLUGINS)[number];

/** Where Debian's `containernetworking-plugins` installs the plugins (Host `spec.cniBinDir` names another place). */
export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';

/** What {@link detectNetworkTools} found on a host. */
export interface NetworkTools {
  host: string;
  /** How network changes are made: as root, with `sudo -n`, or not at all. */
  privilege: 'root' | 'sudo' | 'none';
  /** The firewall service rules are written with: nftables when `nft` works, else iptables; `undefined` when neither. */
  firewall: 'nft' | 'iptables' | undefined;
  /** Paths of the tools found (`nft`, `iptables`, `iptables-restore`, `iptables-save`, `ip`). */
  paths: Partial<Record<'nft' | 'iptables' | 'iptables-restore' | 'iptables-save' | 'ip', string>>;
  cniBinDir: string;
  /** Each CNI plugin: whether `cniBinDir/<name>` is an executable. */
  plugins: Record<CniPluginName, boolean>;
  /** Every missing piece, each with how to fix it (empty when nothing is missing for what was asked). */
  missing: string[];
}

/** Options of {@link detectNetworkTools}. */
export interface DetectNetworkToolsOptions {
  /** Where the CNI plugins are (Host `spec.cniBinDir`). @default '/usr/lib/cni' */
  cniBinDir?: string;
  /** Whether the CNI plugins are needed (pod networking); when false they are reported but not listed as missing. @default true */
  cni?: boolean;
  signal?: AbortSignal;
}

/**
 * Finds the host's network tools. Never throws for what is missing: `missing` lists it (use
 * {@link assertNetworkTools} to refuse), so one call can report every host's problems at once.
 */
export async function detectNetworkTools(c: Connection, o: DetectNetworkToolsOptions = {}): Promise<NetworkTools> {
  const dir = o.cniBinDir ?? DEFAULT_CNI_BIN_DIR;
  if (typeof dir !== 'string' || !dir.startsWith('/')) badOption('cniBinDir', 'an absolute directory path', dir);
  const script = [
    SBIN_PATH,
    'if [ "$(id -u)" = 0 ]; then echo "privilege root"; S=; elif sudo -n true 2>/dev/null; then echo "privilege sudo"; S="sudo -n"; else echo "privilege none"; S=none; fi',
    'for t in nft iptables iptables-restore iptables-save ip; do p=$(command -v "$t" 2>/dev/null) && echo "path $t $p"; done',
    // nft present but unusable (no nf_tables in the kernel) counts as absent.
    'if [ "$S" != none ] && command -v nft >/dev/null 2>&1 && $S nft list tables >/dev/null 2>&1; then echo "nftworks 1"; fi',
    'if [ "$S" != none ] && command -v iptables-restore >/dev/null 2>&1 && $S iptables -t nat -S >/dev/null 2>&1; then echo "iptablesworks 1"; fi',
    `d=${shellQuote(dir)}`,
    `for p in ${CNI_PLUGINS.join(' ')}; do [ -x "$d/$p" ] && [ -f "$d/$p" ] && echo "plugin $p"; done`,
  ].join('\n');
  const r = await c.run(script, { hide: true, warn: true, ...(o.signal ? { signal: o.signal } : {}) });
  return parseNetworkTools(c.host, dir, r.stdout, o.cni ?? true);
}

/** Parses the probe's output (pure; exported for tests). */
export function parseNetworkTools(host: string, cniBinDir: string, stdout: string, needCni: boolean): NetworkTools {
  const paths: NetworkTools['paths'] = {};
  const plugins = Object.fromEntries(CNI_PLUGINS.map((p) => [p, false])) as Record<CniPluginName, boolean>;
  let privilege: NetworkTools['privilege'] = 'none';
  let nftWorks = false;
  let iptablesWorks = false;
  for (const line of stdout.split('\n')) {
    const [k, a, b] = line.split(' ');
    if (k === 'privilege' && (a === 'root' || a === 'sudo' || a === 'none')) privilege = a;
    else if (k === 'path' && a && b && ['nft', 'iptables', 'iptables-restore', 'iptables-save', 'ip'].includes(a)) paths[a as keyof NetworkTools['paths']] = b;
    else if (k === 'nftworks') nftWorks = true;
    else if (k === 'iptablesworks') iptablesWorks = true;
    else if (k === 'plugin' && a && (CNI_PLUGINS as readonly string[]).includes(a)) plugins[a as CniPluginName] = true;
  }
  const firewall = nftWorks ? 'nft' : iptablesWorks && paths['iptables-save'] ? 'iptables' : undefined;
  const missing: string[] = [];
  if (privilege === 'none') missing.push('root: the login user is not root and may not run sudo without a password (give it NOPASSWD sudo, or log in as root)');
  if (!paths.ip) missing.push('ip (iproute2): apt-get install -y iproute2');
  if (privilege !== 'none' && !firewall) {
    missing.push(
      paths.nft || paths.iptables
        ? `a working firewall: ${[paths.nft ? 'nft' : '', paths.iptables ? 'iptables' : ''].filter(Boolean).join(' and ')} found but the kernel refused it (nf_tables / ip_tables modules?)`
        : 'nftables or iptables: apt-get install -y nftables',
    );
  }
  if (needCni) {
    const lacking = CNI_PLUGINS.filter((p) => !plugins[p]);
    if (lacking.length) missing.push(`CNI plugins ${lacking.join(', ')} in ${cniBinDir}: apt-get install -y containernetworking-plugins, or set the Host's spec.cniBinDir to where they are`);
  }
  return { host, privilege, firewall, paths, cniBinDir, plugins, missing };
}

/** Throws `network-tools` naming the host and everything missing, with how to fix each; returns the tools otherwise. */
export function assertNetworkTools(tools: NetworkTools): NetworkTools {
  if (tools.missing.length) {
    throw new DeployError('network-tools', `${tools.host} lacks what networking needs:\n${tools.missing.map((m) => `  - ${m}`).join('\n')}`, { host: tools.host });
  }
  return tools;
}
