/**
 * A fleet of real OpenSSH servers on one machine, for tests, benchmarks and demos.
 *
 * Each host is a real `sshd` bound to its own loopback address (127.0.X.Y), with its own unix
 * user whose home directory is the host's filesystem, key-only login, its own host key, and
 * a generated known_hosts, ssh_config and inventory. It needs root (to create users and
 * start sshd) and says so. {@link Fleet.stop} kills exactly the sshd PIDs it started (and
 * processes left by the fleet's own users), removes the users and the directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeployError } from '../errors.js';

/** One host of a {@link Fleet}. */
export interface FleetHost {
  /** Inventory name and ssh_config alias: `${namePrefix}01`, … */
  name: string;
  address: string;
  port: number;
  user: string;
  home: string;
  uid: number;
  /** `ssh-ed25519 AAAA…` */
  hostPublicKey: string;
  /** The sshd process id (the fleet started it). */
  pid: number;
  /** With `netns: true`: the host's network namespace (`/run/netns/<name>` in the test runner's mount namespace). */
  netns?: string;
}

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /** Number of hosts. @default 3 */
  size?: number;
  /** Third octet of the addresses: hosts are 127.0.`subnet`.`firstHost + i`. Give each suite its own. @default 50 */
  subnet?: number;
  /** Last octet of the first host. @default 11 */
  firstHost?: number;
  /** Unix user prefix; users are `${userPrefix}01`, … Give each suite its own. @default 'flt' */
  userPrefix?: string;
  /** Host name prefix. @default 'h' */
  namePrefix?: string;
  /** sshd port on every address. @default 22 */
  port?: number;
  /** Give every host's user sudo rights: `'password'` (a generated password, {@link Fleet.sudoPassword}) or `'nopasswd'`. @default undefined (no sudo) */
  sudo?: 'password' | 'nopasswd';
  /** Labels per host index (for the inventory). */
  labels?: (index: number) => Record<string, string>;
  /** Time allowed for every sshd to accept connections. @default 60000 */
  readyTimeoutMs?: number;
  /**
   * Each host a network namespace of its own instead of a loopback address: its `eth0` (a veth)
   * is on a bridge `flofl<subnet>` in the root namespace, with address
   * `10.254.<subnet>.<firstHost + i>/24` (the bridge has `.1`, so the test runner reaches every
   * host); no default route and no NAT, so no packet leaves the test hosts. Each host's sshd runs
   * in the host's namespace and in a mount namespace of its own that has the namespace's `/sys`
   * (the cgroup mounts kept, for runc) and a private `/run` (`/run/netns`, runc's state), so
   * network namespaces and containers made on one host are that host's. Per-host state belongs
   * under the host's home. Needs `ip`, `nsenter` and `unshare`. {@link Fleet.stop} kills every
   * process in the host's namespaces (and their descendants) and deletes the namespaces, veths
   * and bridge it made. @default false
   */
  netns?: boolean;
}

/** A running fleet. */
export interface Fleet {
  hosts: FleetHost[];
  /** Directory holding keys, known_hosts, ssh_config, inventory and the homes. */
  dir: string;
  /** Private key that logs into every host (ed25519, no passphrase). */
  identityFile: string;
  /** known_hosts with every host's key. */
  knownHostsFile: string;
  /** ssh_config with a `Host <name>` block per host (HostName, User, Port, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking yes). */
  sshConfigFile: string;
  /** An inventory of `kind: Host` documents (names, addresses, users, labels). */
  inventoryFile: string;
  /** The sudo password of every host's user, when `sudo: 'password'`. */
  sudoPassword: string | undefined;
  /** With `netns: true`: the bridge in the root namespace that joins the hosts, and its address (the test runner's, as the hosts see it). */
  bridge?: { name: string; address: string; prefix: number };
  /**
   * The sshd processes that serve this host's connections now: every sshd below the host's
   * listener (the privileged monitor and the user's session process of each connection).
   */
  sessionPids(name: string): number[];
  /**
   * Freezes a host's sshd with SIGSTOP, so that its TCP connections stay open but nothing
   * answers on them: `sessions` (default true) stops every sshd serving a connection (see
   * {@link Fleet.sessionPids}); `listener` (default false) stops the sshd that accepts new
   * connections (the kernel still completes their TCP handshakes; no ssh greeting follows).
   * Only those processes are stopped; thaw them in `finally` ({@link Fleet.stop} thaws any left).
   */
  freeze(name: string, options?: { sessions?: boolean; listener?: boolean }): FrozenSshd;
  /** Stops sshd processes started by this fleet, the users' processes, removes users and files. */
  stop(): Promise<void>;
}

/** sshd processes stopped by {@link Fleet.freeze}. */
export interface FrozenSshd {
  /** The process ids that were stopped. */
  pids: number[];
  /** Sends SIGCONT to exactly those processes (again is harmless). */
  thaw(): void;
}

/** pid → { ppid, comm } of every process, from /proc/<pid>/stat. */
function processTable(): Map<number, { ppid: number; comm: string }> {
  const table = new Map<number, { ppid: number; comm: string }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      table.set(Number(d), { ppid, comm });
    } catch {
      /* gone */
    }
  }
  return table;
}

/** sshd processes (OpenSSH 9.8+ names the per-connection ones sshd-session) below `root`, at any depth. */
function sshdBelow(root: number): number[] {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (table.get(c)!.comm.startsWith('sshd')) out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/** Whether this machine can run a fleet (`netns: true`: of network-namespace hosts); `reason` says why not. */
export function fleetAvailability(options: { netns?: boolean } = {}): { ok: boolean; reason: string } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return { ok: false, reason: 'the ssh test fleet needs root (to create users and start sshd); run as root or in CI' };
  if (!existsSync('/usr/sbin/sshd')) return { ok: false, reason: 'sshd is not installed (apt-get install -y openssh-server)' };
  for (const tool of ['ssh-keygen', 'useradd', 'userdel', ...(options.netns ? ['ip', 'nsenter', 'unshare', 'mount'] : [])]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return { ok: false, reason: `${tool} is not installed${tool === 'ip' ? ' (apt-get install -y iproute2)' : ''}` };
    }
  }
  return { ok: true, reason: '' };
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }) });
}

function waitPort(address: string, port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ host: address, port });
      s.once('data', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (performance.now() > deadline) reject(new DeployError('connect-failed', `sshd on ${address}:${port} did not start`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function uidsProcesses(uids: Set<number>): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && uids.has(Number(m[1]))) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** The first two octets of the network-namespace hosts' addresses: `10.254.<subnet>.<n>`. */
export const NETNS_NET = '10.254';

/**
 * Run by each network-namespace host before sshd, in its own mount namespace: a private /run
 * (sshd's privilege separation directory, `/run/netns` for the host's pods, runc's state), and
 * the namespace's own /sys (so /sys/class/net shows the host's interfaces) with the cgroup
 * mounts carried over (`ip netns exec` loses them, and runc needs them).
 */
const HOST_MOUNTS = [
  'set -e',
  'mount -t tmpfs -o mode=755 flotilla-run /run',
  'mkdir -p /run/sshd /run/netns /run/.cgroup',
  'if mount --rbind /sys/fs/cgroup /run/.cgroup 2>/dev/null; then mount -t sysfs sysfs /sys && mount --move /run/.cgroup /sys/fs/cgroup; fi',
  'rmdir /run/.cgroup 2>/dev/null || true',
  'set +e',
].join('\n');

/** The namespaces, veths and bridge of a `netns: true` fleet (made and removed by it alone). */
class NetnsSet {
  readonly bridge: { name: string; address: string; prefix: number };
  private readonly made: { ns: string; veth: string; name: string; pid?: number }[] = [];
  private bridgeMade = false;

  constructor(
    subnet: number,
    private readonly prefix: string,
  ) {
    this.bridge = { name: `flofl${subnet}`, address: `${NETNS_NET}.${subnet}.1`, prefix: 24 };
  }

  private ip(args: string[]): void {
    sh('ip', args);
  }

  private ensureBridge(): void {
    if (this.bridgeMade) return;
    const b = this.bridge.name;
    // A bridge of this name is a crashed earlier run's of the same suite: ours to replace.
    if (existsSync(`/sys/class/net/${b}`)) this.ip(['link', 'del', b]);
    this.ip(['link', 'add', b, 'type', 'bridge']);
    this.bridgeMade = true;
    this.ip(['addr', 'add', `${this.bridge.address}/${this.bridge.prefix}`, 'dev', b]);
    this.ip(['link', 'set', b, 'up']);
  }

  /** Makes the host's namespace and wires it to the bridge; returns the namespace's path. */
  addHost(name: string, address: string): string {
    this.ensureBridge();
    const ns = `flotilla-${this.prefix}-${name}`;
    const veth = `${this.bridge.name.replace('flofl', 'flv')}${name}`.slice(0, 15);
    if (existsSync(`/run/netns/${ns}`)) sh('ip', ['netns', 'del', ns]);
    if (existsSync(`/sys/class/net/${veth}`)) this.ip(['link', 'del', veth]);
    this.ip(['netns', 'add', ns]);
    this.made.push({ ns, veth, name });
    this.ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    this.ip(['link', 'set', veth, 'master', this.bridge.name, 'up']);
    this.ip(['-n', ns, 'addr', 'add', `${address}/${this.bridge.prefix}`, 'dev', 'eth0']);
    this.ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    this.ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return `/run/netns/${ns}`;
  }

  setPid(name: string, pid: number): void {
    const m = this.made.find((x) => x.name === name);
    if (m) m.pid = pid;
  }

  /** Kills every process in a host's network or mount namespace and their descendants, then removes what was made. */
  async stop(): Promise<void> {
    const nets = new Set<string>();
    const mnts = new Set<string>();
    for (const m of this.made) {
      try {
        nets.add(`net:[${statSync(`/run/netns/${m.ns}`).ino}]`);
      } catch {
        /* gone */
      }
      if (m.pid !== undefined) {
        // The namespaces the host made for its pods live in its private /run.
        try {
          for (const f of readdirSync(`/proc/${m.pid}/root/run/netns`)) nets.add(`net:[${statSync(`/proc/${m.pid}/root/run/netns/${f}`).ino}]`);
        } catch {
          /* none */
        }
        try {
          const mnt = readlinkSync(`/proc/${m.pid}/ns/mnt`);
          if (mnt !== readlinkSync('/proc/self/ns/mnt')) mnts.add(mnt);
        } catch {
          /* gone */
        }
      }
    }
    for (let attempt = 0; attempt < 50; attempt++) {
      const victims = namespaceProcesses(nets, mnts);
      if (victims.length === 0) break;
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const m of this.made) {
      try {
        sh('ip', ['netns', 'del', m.ns]);
      } catch {
        /* gone */
      }
      if (existsSync(`/sys/class/net/${m.veth}`)) {
        try {
          this.ip(['link', 'del', m.veth]);
        } catch {
          /* gone with its namespace */
        }
      }
    }
    this.made.length = 0;
    if (this.bridgeMade) {
      try {
        this.ip(['link', 'del', this.bridge.name]);
      } catch {
        /* gone */
      }
      this.bridgeMade = false;
    }
  }
}

/** Processes in any of the given network or mount namespaces, with all their descendants (a container's init is runc's child). */
function namespaceProcesses(nets: Set<string>, mnts: Set<string>): number[] {
  const table = processTable();
  const hit = new Set<number>();
  for (const pid of table.keys()) {
    if (pid === process.pid) continue;
    try {
      if (nets.has(readlinkSync(`/proc/${pid}/ns/net`)) || mnts.has(readlinkSync(`/proc/${pid}/ns/mnt`))) hit.add(pid);
    } catch {
      /* gone */
    }
  }
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      if (!hit.has(c)) {
        hit.add(c);
        walk(c);
      }
    }
  };
  for (const pid of [...hit]) walk(pid);
  return [...hit];
}

/** Starts a fleet of real sshd hosts. Needs root; throws a readable error otherwise. */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const avail = fleetAvailability({ netns: options.netns ?? false });
  if (!avail.ok) throw new DeployError('connect-failed', avail.reason);
  const netns = options.netns ?? false;
  const size = options.size ?? 3;
  const subnet = options.subnet ?? 50;
  const first = options.firstHost ?? 11;
  const userPrefix = options.userPrefix ?? 'flt';
  const namePrefix = options.namePrefix ?? 'h';
  const port = options.port ?? 22;
  if (!Number.isInteger(size) || size < 1 || first + size - 1 > 254) throw new TypeError(`Expected \`size\` to fit in 127.0.${subnet}.${first}..254, got \`${size}\``);
  if (netns && (!Number.isInteger(subnet) || subnet < 0 || subnet > 255 || first < 2)) throw new TypeError(`Expected \`subnet\` 0..255 and \`firstHost\` >= 2 with netns (the bridge has .1), got ${subnet} and ${first}`);
  const net = netns ? new NetnsSet(subnet, userPrefix) : undefined;
  const dir = mkdtempSync(join(tmpdir(), `flotilla-fleet-${userPrefix}-`));
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, 'home'), { mode: 0o755 });
  const clientDir = join(dir, 'client');
  mkdirSync(clientDir, { mode: 0o700 });
  const identityFile = join(clientDir, 'id_ed25519');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `flotilla-fleet-${userPrefix}`, '-f', identityFile]);
  const clientPub = readFileSync(`${identityFile}.pub`, 'utf8');
  const sudoPassword = options.sudo === 'password' ? randomBytes(12).toString('base64url') : undefined;
  const sudoersFile = `/etc/sudoers.d/flotilla-fleet-${userPrefix}`;
  const children: ChildProcess[] = [];
  const hosts: FleetHost[] = [];
  const createdUsers: string[] = [];
  const uids = new Set<number>();

  const frozen = new Set<FrozenSshd>();
  const hostNamed = (name: string): FleetHost => {
    const h = hosts.find((x) => x.name === name);
    if (!h) throw new TypeError(`Expected \`name\` to be a host of this fleet (${hosts.map((x) => x.name).join(', ')}), got \`${name}\``);
    return h;
  };
  const sessionPids = (name: string): number[] => sshdBelow(hostNamed(name).pid);
  const freeze = (name: string, opts: { sessions?: boolean; listener?: boolean } = {}): FrozenSshd => {
    const h = hostNamed(name);
    const pids = [...(opts.listener ? [h.pid] : []), ...(opts.sessions === false ? [] : sshdBelow(h.pid))];
    const stopped: number[] = [];
    const handle: FrozenSshd = {
      pids: stopped,
      thaw() {
        frozen.delete(handle);
        for (const pid of stopped) {
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            /* gone */
          }
        }
      },
    };
    frozen.add(handle);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      } catch {
        /* gone meanwhile */
      }
    }
    return handle;
  };

  const stop = async (): Promise<void> => {
    // A stopped process would not act on SIGTERM.
    for (const f of [...frozen]) f.thaw();
    // Everything in a host's namespaces (containers too) goes first, then the namespaces.
    if (net) await net.stop();
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    }
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              c.kill('SIGKILL');
            }, 3000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    // Processes the fleet's users left behind (supervised services started by tests).
    // Killed processes must be gone (reaped) before userdel accepts the user.
    for (let attempt = 0; attempt < 50; attempt++) {
      const left = uidsProcesses(uids);
      if (left.length === 0) break;
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const u of createdUsers) {
      try {
        sh('userdel', [u]);
      } catch {
        /* already gone */
      }
    }
    rmSync(sudoersFile, { force: true });
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const knownHosts: string[] = [];
    const config: string[] = [];
    const inventory: string[] = [];
    const sudoers: string[] = [];
    for (let i = 0; i < size; i++) {
      const name = `${namePrefix}${pad(i + 1)}`;
      const user = `${userPrefix}${pad(i + 1)}`;
      const address = net ? `${NETNS_NET}.${subnet}.${first + i}` : `127.0.${subnet}.${first + i}`;
      const hostDir = join(dir, 'sshd', name);
      const home = join(dir, 'home', user);
      mkdirSync(hostDir, { recursive: true, mode: 0o700 });
      mkdirSync(home, { mode: 0o755 });
      mkdirSync(join(home, '.ssh'), { mode: 0o700 });
      try {
        sh('id', ['-u', user]);
        sh('usermod', ['-d', home, '-s', '/bin/sh', user]);
      } catch {
        sh('useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
      }
      createdUsers.push(user);
      // '*' = no password login but not locked (sshd without PAM refuses locked accounts).
      sh('usermod', ['-p', '*', user]);
      if (sudoPassword) sh('chpasswd', [], `${user}:${sudoPassword}\n`);
      if (options.sudo) sudoers.push(`${user} ALL=(ALL) ${options.sudo === 'nopasswd' ? 'NOPASSWD: ' : ''}ALL`);
      const uid = Number(sh('id', ['-u', user]).trim());
      const gid = Number(sh('id', ['-g', user]).trim());
      uids.add(uid);
      writeFileSync(join(home, '.ssh', 'authorized_keys'), clientPub, { mode: 0o600 });
      for (const p of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys')]) chownSync(p, uid, gid);
      const hostKey = join(hostDir, 'ssh_host_ed25519_key');
      sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', hostKey]);
      const hostPublicKey = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
      const sshdConfig = join(hostDir, 'sshd_config');
      writeFileSync(
        sshdConfig,
        [
          `ListenAddress ${address}:${port}`,
          `HostKey ${hostKey}`,
          `PidFile ${join(hostDir, 'sshd.pid')}`,
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PermitRootLogin no',
          'UsePAM no',
          'StrictModes no',
          `AllowUsers ${user}`,
          'AllowTcpForwarding yes',
          'X11Forwarding no',
          'PrintMotd no',
          'PrintLastLog no',
          'MaxSessions 100',
          'MaxStartups 200',
          'LogLevel ERROR',
          'Subsystem sftp internal-sftp',
          '',
        ].join('\n'),
      );
      const nsPath = net?.addHost(name, address);
      // nsenter, unshare and sh each exec the next: child.pid is sshd's.
      const child = nsPath
        ? spawn('nsenter', [`--net=${nsPath}`, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', `${HOST_MOUNTS}\nexec /usr/sbin/sshd -D -e -f "$1"`, 'flotilla-host', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < 4000) stderr += c.toString();
      });
      children.push(child);
      hosts.push({ name, address, port, user, home, uid, hostPublicKey, pid: child.pid!, ...(nsPath ? { netns: nsPath } : {}) });
      net?.setPid(name, child.pid!);
      knownHosts.push(`${port === 22 ? address : `[${address}]:${port}`} ${hostPublicKey}`);
      config.push(
        `Host ${name} ${address}`,
        `  HostName ${address}`,
        `  User ${user}`,
        `  Port ${port}`,
        `  IdentityFile ${identityFile}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  StrictHostKeyChecking yes',
        '',
      );
      const labels = options.labels?.(i) ?? {};
      const labelText = Object.entries(labels)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join(', ');
      inventory.push(
        '---',
        'apiVersion: flotilla.dev/v1',
        'kind: Host',
        `metadata: {name: ${name}, labels: {${labelText}}}`,
        'spec:',
        `  address: ${address}`,
        `  user: ${user}`,
        `  port: ${port}`,
        `  identityFile: ${identityFile}`,
      );
      child.once('exit', (code) => {
        if (code !== 0 && code !== null) stderr = `sshd for ${name} exited with ${code}: ${stderr}`;
      });
      (child as ChildProcess & { flotillaStderr?: () => string }).flotillaStderr = () => stderr;
    }
    if (sudoers.length) writeFileSync(sudoersFile, `${sudoers.join('\n')}\n`, { mode: 0o440 });
    const knownHostsFile = join(dir, 'known_hosts');
    writeFileSync(knownHostsFile, `${knownHosts.join('\n')}\n`);
    const sshConfigFile = join(dir, 'ssh_config');
    writeFileSync(sshConfigFile, config.join('\n'));
    const inventoryFile = join(dir, 'hosts.yaml');
    writeFileSync(inventoryFile, `${inventory.join('\n')}\n`);
    const deadline = performance.now() + (options.readyTimeoutMs ?? 60_000);
    await Promise.all(
      hosts.map((h, i) =>
        waitPort(h.address, h.port, deadline).catch((e: unknown) => {
          const c = children[i] as ChildProcess & { flotillaStderr?: () => string };
          throw new DeployError('connect-failed', `${(e as Error).message}: ${c.flotillaStderr?.() ?? ''}`);
        }),
      ),
    );
    return { hosts, dir, identityFile, knownHostsFile, sshConfigFile, inventoryFile, sudoPassword, ...(net ? { bridge: net.bridge } : {}), sessionPids, freeze, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
