/**
 * Host facts (load, cores, memory, free disk, OS), gathered with one sh command per host, and
 * the ordering `flo lowest-loadaverage` prints: load per core, lowest first, then by name.
 */
import type { Connection } from './connection.js';
import { DeployError } from './errors.js';

/** What a host reports about itself. */
export interface HostFacts {
  host: string;
  /** 1-, 5- and 15-minute load averages. */
  load1: number;
  load5: number;
  load15: number;
  /** Online CPU cores. */
  cores: number;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  /** Free bytes on the filesystem of the login directory. */
  diskFreeBytes: number | null;
  /** `uname -s`, e.g. `Linux`. */
  os: string;
  /** `PRETTY_NAME` from /etc/os-release, when there is one. */
  distro: string | null;
}

/** The sh command that prints every fact (sections separated by `---`). */
export const FACTS_COMMAND = [
  'cat /proc/loadavg 2>/dev/null || sysctl -n vm.loadavg 2>/dev/null || uptime',
  'echo ---',
  'getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || sysctl -n hw.ncpu',
  'echo ---',
  "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo 2>/dev/null",
  'echo ---',
  'df -Pk . 2>/dev/null | tail -n 1',
  'echo ---',
  'uname -s',
  'echo ---',
  '(. /etc/os-release 2>/dev/null && printf "%s\\n" "$PRETTY_NAME")',
].join('; ');

/**
 * The lighter command used when only load and cores are needed. On Linux it starts no program
 * at all (shell built-ins read /proc/loadavg and the online-CPU list, which is what
 * `getconf _NPROCESSORS_ONLN` counts); elsewhere it falls back to the commands of
 * the full facts command.
 */
export const LOAD_COMMAND =
  `{ read -r l </proc/loadavg && read -r c </sys/devices/system/cpu/online && printf '%s\\n---\\ncpus %s\\n' "$l" "$c"; } 2>/dev/null || ` +
  '{ cat /proc/loadavg 2>/dev/null || sysctl -n vm.loadavg 2>/dev/null || uptime; echo ---; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || sysctl -n hw.ncpu; }';

/** Counts the CPUs in a Linux CPU list such as `0-3,8,10-11`; NaN when it is not one. */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return Number.NaN;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return Number.NaN;
    n += hi - lo + 1;
  }
  return n;
}

function loads(text: string): [number, number, number] | null {
  // /proc/loadavg "0.52 0.58 0.59 1/467 123", BSD "{ 0.52 0.58 0.59 }", uptime "... load average: 0.52, 0.58, 0.59"
  const m = /load averages?:\s*([\d.]+),?\s+([\d.]+),?\s+([\d.]+)/.exec(text) ?? /^\{?\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** Parses the output of the facts command (`gatherFacts`) (or {@link LOAD_COMMAND}). */
export function parseFacts(host: string, text: string): HostFacts {
  const s = text.split(/^---$/m).map((x) => x.trim());
  const l = loads(s[0] ?? '');
  const coreText = s[1] ?? '';
  const cores = coreText.startsWith('cpus ') ? countCpuList(coreText.slice(5)) : Number.parseInt(coreText, 10);
  if (!l || !Number.isFinite(cores) || cores < 1) throw new DeployError('command-failed', `cannot read load average and cores of ${host} from ${JSON.stringify(text.slice(0, 200))}`, { host });
  const mem = (k: string): number | null => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s[2] ?? '');
    return m ? Number(m[1]) * 1024 : null;
  };
  const df = (s[3] ?? '').split(/\s+/);
  const avail = df.length >= 4 ? Number(df[3]) : NaN;
  return {
    host,
    load1: l[0],
    load5: l[1],
    load15: l[2],
    cores,
    memTotalBytes: mem('MemTotal'),
    memAvailableBytes: mem('MemAvailable'),
    diskFreeBytes: Number.isFinite(avail) ? avail * 1024 : null,
    os: s[4] || 'unknown',
    distro: s[5] || null,
  };
}

/** Gathers facts from one host (one command). `only: 'load'` asks for load and cores only. */
export async function gatherFacts(c: Connection, options: { only?: 'load'; signal?: AbortSignal } = {}): Promise<HostFacts> {
  const r = await c.run(options.only === 'load' ? LOAD_COMMAND : FACTS_COMMAND, { hide: true, ...(options.signal ? { signal: options.signal } : {}) });
  return parseFacts(c.host, r.stdout);
}

/** A host with its load per core. */
export interface LoadRank {
  host: string;
  load1: number;
  cores: number;
  /** `load1 / cores`. */
  loadPerCore: number;
}

/** Orders hosts by 1-minute load per core, lowest first; ties by host name. Pure. */
export function orderByLoad(facts: readonly Pick<HostFacts, 'host' | 'load1' | 'cores'>[]): LoadRank[] {
  return facts
    .map((f) => ({ host: f.host, load1: f.load1, cores: f.cores, loadPerCore: f.load1 / Math.max(1, f.cores) }))
    .sort((a, b) => a.loadPerCore - b.loadPerCore || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
