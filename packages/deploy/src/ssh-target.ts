/**
 * Resolves a destination (`alias`, `[user@]address[:port]`) into everything needed to
 * connect: ssh_config applied with OpenSSH's rules, command-line overrides on top, ProxyJump
 * hops resolved the same way, and the host-key policy.
 */
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { DeployError } from './errors.js';
import { loadSshConfig, parseDestination, resolveSshConfig, type SshConfig, type StrictHostKeyChecking } from './ssh-config.js';

/** Everything needed to open one ssh connection. */
export interface SshTarget {
  /** What the user called the host (for messages and output prefixes). */
  label: string;
  /** The address to connect to. */
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** ssh-agent socket, or `undefined` for none. */
  agent: string | undefined;
  knownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: StrictHostKeyChecking;
  connectTimeoutMs: number;
  /** Hops to go through first, outermost first. */
  jumps: SshTarget[];
}

/** Options for resolving and opening ssh connections. Every option has OpenSSH's default. */
export interface SshOptions {
  /** A parsed ssh_config; when absent, `sshConfigFiles` are read. */
  sshConfig?: SshConfig;
  /** ssh_config files to read. @default ['~/.ssh/config', '/etc/ssh/ssh_config'] */
  sshConfigFiles?: string[];
  /** Remote user, over ssh_config. @default ssh_config's User, else the local user */
  user?: string;
  /** Port, over ssh_config. @default ssh_config's Port, else 22 */
  port?: number;
  /** Private key files tried first (like `ssh -i`). @default ssh_config's IdentityFile, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa */
  identityFiles?: string[];
  /** ProxyJump hops (`[user@]host[:port]`, comma-separated), over ssh_config; `'none'` for none. */
  proxyJump?: string;
  /** Accept and record keys of hosts not in known_hosts (`--accept-new-host-keys`). A changed key is still refused. @default false */
  acceptNewHostKeys?: boolean;
  /** Connect timeout. @default ssh_config's ConnectTimeout, else 20000 */
  connectTimeoutMs?: number;
  /** Keepalive interval; the connection is dropped after 4 unanswered keepalives. @default 15000 */
  keepaliveIntervalMs?: number;
  /** Home directory for `~` and default files. @default os.homedir() */
  home?: string;
  /** Passphrase for encrypted private keys: a string or a function asked once per key file. */
  passphrase?: string | ((keyFile: string) => Promise<string>);
  /** Receives warnings (e.g. a new host key accepted). */
  onWarning?: (message: string) => void;
  /**
   * Keep connections open in a per-user background daemon for this long after their last use,
   * so the next process reuses them without a handshake (`flo --persist`; OpenSSH's
   * ControlPersist). Host keys are still verified when a connection opens; a connection is
   * shared only by requests with the same resolved target and host-key policy. Encrypted keys
   * need ssh-agent (the daemon cannot ask for a passphrase). @default undefined (off)
   */
  persistMs?: number;
  /** Directory of the daemon's socket (must be private to this user). @default $FLO_CONTROL_DIR, else $XDG_RUNTIME_DIR/flotilla, else /tmp/flotilla-<uid> */
  controlDir?: string;
}

const cachedConfigs = new Map<string, SshConfig>();

function configFor(options: SshOptions, home: string): SshConfig {
  if (options.sshConfig) return options.sshConfig;
  const files = options.sshConfigFiles ?? [join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'];
  const key = `${home}\0${files.join('\0')}`;
  let c = cachedConfigs.get(key);
  if (!c) {
    c = loadSshConfig(files, { home });
    cachedConfigs.set(key, c);
  }
  return c;
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'root';
  }
}

/** Resolves a destination as `ssh` would. */
export function resolveSshTarget(destination: string, options: SshOptions = {}, depth = 0): SshTarget {
  if (depth > 8) throw new DeployError('ssh-config', `ProxyJump chain for ${destination} is too long (loop?)`);
  const home = options.home ?? homedir();
  const dest = parseDestination(destination);
  const config = configFor(options, home);
  const top = depth === 0;
  const cliUser = (top ? options.user : undefined) ?? dest.user;
  const r = resolveSshConfig(config, dest.host, { user: cliUser, home });
  const port = (top ? options.port : undefined) ?? dest.port ?? r.port ?? 22;
  const user = cliUser ?? r.user ?? localUser();
  let identityFiles = [...((top ? options.identityFiles : undefined) ?? []), ...r.identityFiles];
  if (identityFiles.length === 0) {
    identityFiles = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(home, '.ssh', n)).filter((f) => existsSync(f));
  }
  const agent = r.identityAgent === 'none' ? undefined : r.identityAgent || process.env.SSH_AUTH_SOCK || undefined;
  const pjOverride = top ? options.proxyJump : undefined;
  const hopsText = pjOverride === undefined ? r.proxyJump : pjOverride === 'none' ? [] : pjOverride.split(',').map((h) => h.trim()).filter(Boolean);
  const jumps = hopsText.map((hop) => resolveSshTarget(hop, options, depth + 1));
  // A hop's own ProxyJump comes before it (OpenSSH resolves each hop with its own config).
  const flatJumps: SshTarget[] = [];
  for (const j of jumps) {
    flatJumps.push(...j.jumps, { ...j, jumps: [] });
  }
  return {
    label: destination,
    hostName: r.hostName,
    port,
    user,
    identityFiles,
    identitiesOnly: r.identitiesOnly,
    agent,
    knownHostsFiles: r.userKnownHostsFiles ?? [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')],
    globalKnownHostsFiles: r.globalKnownHostsFiles ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
    strictHostKeyChecking: r.strictHostKeyChecking ?? 'ask',
    connectTimeoutMs: options.connectTimeoutMs ?? r.connectTimeoutMs ?? 20_000,
    jumps: flatJumps,
  };
}
