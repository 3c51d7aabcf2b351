/**
 * Whether a process still runs — the question every lock file asks about its holder.
 *
 * `process.kill(pid, 0)` alone is not enough, for two reasons this module covers:
 * - a process that has died but not yet been reaped by its parent (a zombie) still answers
 *   `kill(pid, 0)`, so a member restarted right after a SIGKILL saw its dead predecessor as
 *   alive;
 * - a pid is reused once the process is gone, so an unrelated process may carry the pid a
 *   lock names.
 * Where `/proc` exists (Linux), the process's state (`Z`/`X` = dead) and its start time
 * (field 22 of `/proc/<pid>/stat`: clock ticks after boot, fixed for the process's life)
 * answer both. Elsewhere the start time is unknown and `kill(pid, 0)` decides.
 */
import { readFileSync } from 'node:fs';

/** What `/proc/<pid>/stat` says about a process, or undefined where it cannot be read. */
export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), X (dead), T, t, I, … */
  readonly state: string;
  /** Start time in clock ticks after boot, as a decimal string (exact beyond 2^53). */
  readonly startTime: string;
}

/** Reads and parses `/proc/<pid>/stat`; undefined when there is no such file (no /proc, no such pid, hidden). */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/**
 * Parses the text of `/proc/<pid>/stat`. The command name (field 2) is in parentheses and
 * may itself hold spaces and parentheses, so the fields are counted after the last `)`.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || !/^[A-Za-z]$/.test(state) || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

/** The start time of a process (see {@link ProcStat.startTime}); undefined where /proc cannot tell. */
export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

let bootIdCache: string | null | undefined;

/** This boot's id (`/proc/sys/kernel/random/boot_id`), undefined where there is none. */
export function bootId(): string | undefined {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache ?? undefined;
}

/** Where a process's liveness comes from; replaceable in tests. */
export interface ProcessProbe {
  /** `process.kill(pid, 0)`: true when the pid exists (EPERM counts: it exists, owned by another user). */
  exists(pid: number): boolean;
  /** `/proc/<pid>/stat`, or undefined. */
  stat(pid: number): ProcStat | undefined;
}

/** The real probe: `kill(pid, 0)` and `/proc`. */
export const systemProbe: ProcessProbe = {
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  stat: (pid) => readProcStat(pid),
};

/**
 * Whether the process `pid` runs. A zombie (`Z`) or dead (`X`) process does not. When
 * `startTime` is given (recorded when the process was alive) and `/proc` shows another start
 * time, the pid belongs to a different process now: the one asked about does not run.
 * Without `/proc` (or when it hides the pid) only `kill(pid, 0)` decides.
 */
export function isProcessAlive(pid: number, startTime?: string, probe: ProcessProbe = systemProbe): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (!probe.exists(pid)) return false;
  const st = probe.stat(pid);
  if (st === undefined) return true;
  if (st.state === 'Z' || st.state === 'X' || st.state === 'x') return false;
  if (startTime !== undefined && startTime !== '' && st.startTime !== startTime) return false;
  return true;
}
