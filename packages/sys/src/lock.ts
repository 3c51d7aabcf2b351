/**
 * Lock files that recover: who holds a lock (a record with pid, host, process start time and
 * boot id), whether that holder still runs, and writing and breaking a lock file so that a
 * crash at any moment leaves either no lock or a complete one.
 *
 * Guarantees:
 * - {@link createLockFileSync} is atomic and exclusive: the content is written to a temp file
 *   first and then hard-linked to the lock's name (`link` fails when the name exists), so a
 *   reader never sees a half-written lock made by this code, and exactly one creator wins.
 * - {@link judgeLock} never calls a live holder's lock stale: a holder on another host cannot
 *   be checked and is never broken; one on this host is stale only when its process is gone,
 *   is a zombie, or its pid now belongs to a process with another start time (or the machine
 *   has rebooted since). An empty or unparsable lock (a writer of an older version killed
 *   between create and write, or outside damage) is stale once older than a grace period.
 * - {@link removeLockIf} removes a lock only while it is still the one judged: it renames the
 *   lock aside (one of several breakers wins), checks what it moved, and puts back a lock that
 *   changed meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, linkSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { bootId, isProcessAlive, processStartTime, systemProbe, type ProcessProbe } from './process.js';

/** Who holds a lock. */
export interface LockHolder {
  readonly pid: number;
  /** The machine's host name. */
  readonly host: string;
  /** The holder's start time (clock ticks after boot), where /proc told it. */
  readonly startTime?: string | undefined;
  /** The boot id of the holder's machine, where known. */
  readonly bootId?: string | undefined;
}

/** This process as a lock holder. */
export function currentHolder(): LockHolder {
  return { pid: process.pid, host: hostname(), startTime: processStartTime(process.pid), bootId: bootId() };
}

/** The `key=value` tail of a holder line: ` start=N boot=ID` (empty where unknown). */
export function holderFields(h: LockHolder): string {
  return `${h.startTime ? ` start=${h.startTime}` : ''}${h.bootId ? ` boot=${h.bootId}` : ''}`;
}

/**
 * A holder as one line: `PID HOST start=N boot=ID`. The first two words are what earlier
 * versions wrote (and read), so they still understand a lock written by this one.
 */
export function formatHolder(h: LockHolder): string {
  return `${h.pid} ${h.host}${holderFields(h)}`;
}

const PLAIN = /^(\d+)\s+(\S+)((?:\s+\w+=\S*)*)\s*$/;
/** deploy's host lock: `user@machine pid N since ISO-TIME [start=N boot=ID]`. */
const DEPLOY = /^\S+@(\S+) pid (\d+) since \S+((?:\s+\w+=\S*)*)\s*$/;

/**
 * Parses a holder line in any format Flotilla has written: `PID HOST [key=value…]`
 * (Raft LOCK, file store lock) or `USER@HOST pid PID since TIME [key=value…]` (deploy's host
 * lock). Undefined for anything else, an empty text included.
 */
export function parseHolder(text: string): LockHolder | undefined {
  const line = text.trim();
  let pidText: string, host: string, rest: string;
  const p = PLAIN.exec(line);
  const d = p ? undefined : DEPLOY.exec(line);
  if (p) [pidText, host, rest] = [p[1]!, p[2]!, p[3] ?? ''];
  else if (d) [pidText, host, rest] = [d[2]!, d[1]!, d[3] ?? ''];
  else return undefined;
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const fields = new Map<string, string>();
  for (const kv of rest.trim().split(/\s+/).filter(Boolean)) {
    const i = kv.indexOf('=');
    fields.set(kv.slice(0, i), kv.slice(i + 1));
  }
  const startTime = fields.get('start');
  const boot = fields.get('boot');
  return {
    pid,
    host,
    ...(startTime && /^\d+$/.test(startTime) ? { startTime } : {}),
    ...(boot ? { bootId: boot } : {}),
  };
}

/** The machine a holder is checked on. */
export interface LockHere {
  readonly host: string;
  readonly bootId?: string | undefined;
  readonly probe?: ProcessProbe;
}

function here(): LockHere {
  return { host: hostname(), bootId: bootId(), probe: systemProbe };
}

/**
 * `alive`: the holder runs on this machine. `dead`: it ran on this machine and does not any
 * more (gone, a zombie, its pid reused, or the machine rebooted). `elsewhere`: another host
 * (it cannot be checked from here).
 */
export type HolderState = 'alive' | 'dead' | 'elsewhere';

/** Whether a holder still runs; see {@link HolderState}. */
export function holderState(h: LockHolder, at: LockHere = here()): HolderState {
  if (h.host !== at.host) return 'elsewhere';
  if (h.bootId && at.bootId && h.bootId !== at.bootId) return 'dead';
  return isProcessAlive(h.pid, h.startTime, at.probe ?? systemProbe) ? 'alive' : 'dead';
}

/** How long an empty or unparsable lock may be young before it counts as stale. */
export const DEFAULT_UNREADABLE_LOCK_STALE_MS = 5000;

/** The verdict on a lock file; see {@link judgeLock}. */
export type LockVerdict =
  /** A live process on this machine holds it (or a young unreadable lock may be one being written): wait or refuse. */
  | { readonly kind: 'held'; readonly holder?: LockHolder; readonly reason: string }
  /** Nobody holds it any more: break it. */
  | { readonly kind: 'stale'; readonly holder?: LockHolder; readonly reason: string }
  /** Held by another host: it cannot be checked from here. */
  | { readonly kind: 'elsewhere'; readonly holder: LockHolder; readonly reason: string };

/** Options of {@link judgeLock}. */
export interface JudgeLockOptions {
  /** How old an empty or unparsable lock must be to be stale. @default 5000 */
  unreadableStaleMs?: number;
  /** The machine to check on. @default this one */
  here?: LockHere;
}

/** Judges a lock file's content, `ageMs` after its last modification. */
export function judgeLock(text: string, ageMs: number, options: JudgeLockOptions = {}): LockVerdict {
  const holder = parseHolder(text);
  if (!holder) {
    const limit = options.unreadableStaleMs ?? DEFAULT_UNREADABLE_LOCK_STALE_MS;
    const what = text.trim() === '' ? 'empty' : 'unreadable';
    const age = `${(Math.max(0, ageMs) / 1000).toFixed(1)} s old`;
    return ageMs >= limit
      ? { kind: 'stale', reason: `the lock is ${what} and ${age} (a writer died while creating it)` }
      : { kind: 'held', reason: `the lock is ${what} and only ${age} (it may be being written)` };
  }
  const state = holderState(holder, options.here ?? here());
  const who = `process ${holder.pid} on ${holder.host}`;
  switch (state) {
    case 'alive':
      return { kind: 'held', holder, reason: `${who} holds it and is running` };
    case 'dead':
      return { kind: 'stale', holder, reason: `${who} no longer runs` };
    case 'elsewhere':
      return { kind: 'elsewhere', holder, reason: `${who}, another machine, holds it (it cannot be checked from here)` };
  }
}

/** A lock file's content and age, or undefined when there is none. */
export function readLock(path: string, nowMs: number = Date.now()): { text: string; ageMs: number } | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    const { mtimeMs } = statSync(path);
    return { text, ageMs: nowMs - mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Creates the lock file `path` holding `content`, atomically and exclusively: the content goes
 * to a temp file beside it (mode 0600 whatever the umask), which is then hard-linked to `path`.
 * Returns false when `path` exists already. On a file system without hard links, falls back to
 * an exclusive create followed by the write (a crash between them leaves an empty lock, which
 * {@link judgeLock} treats as stale after a grace period).
 */
export function createLockFileSync(path: string, content: string, mode = 0o600): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeWhole(tmp, content, 'wx', mode);
  try {
    linkSync(tmp, path);
    sweepLeftovers(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
  try {
    writeWhole(path, content, 'wx', mode);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** How old a temp or set-aside file of a lock must be before its creator counts as dead. */
const LEFTOVER_MS = 60_000;

/**
 * Removes what writers killed mid-way left beside the lock `path` (`<lock>.<pid>.<hex>.tmp`,
 * `<lock>.stale-<pid>-<hex>`) once older than a minute. Called by the lock's new holder; a
 * live writer's files are younger than that.
 */
function sweepLeftovers(path: string): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const now = Date.now();
  try {
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(prefix) || !/^\d+\.[0-9a-f]+\.tmp$|^stale-\d+-[0-9a-f]+$/.test(name.slice(prefix.length))) continue;
      const p = join(dir, name);
      try {
        if (now - statSync(p).mtimeMs > LEFTOVER_MS) unlinkSync(p);
      } catch {
        /* gone meanwhile */
      }
    }
  } catch {
    /* an unreadable directory: nothing to sweep */
  }
}

function writeWhole(path: string, content: string, flag: string, mode: number): void {
  const fd = openSync(path, flag, mode);
  try {
    if ((fstatSync(fd).mode & 0o777) !== mode) chmodSync(path, mode);
    const buf = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the lock file `path` if it is still the one judged: renames it aside (of several
 * processes breaking one lock, exactly one rename wins), then checks what it moved with
 * `stillStale(text, ageMs)`. A lock that is no longer stale — someone else's fresh lock — is
 * put back unless a newer one exists. Returns true when this call removed a stale lock.
 */
export function removeLockIf(path: string, stillStale: (text: string, ageMs: number) => boolean, nowMs: () => number = Date.now): boolean {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return false; // gone meanwhile, or another breaker won
  }
  let moved: { text: string; ageMs: number } | undefined;
  try {
    moved = readLock(aside, nowMs());
  } catch {
    moved = undefined;
  }
  if (moved !== undefined && !stillStale(moved.text, moved.ageMs)) {
    try {
      linkSync(aside, path);
    } catch {
      /* a newer lock is there */
    }
    unlinkSync(aside);
    return false;
  }
  try {
    unlinkSync(aside);
  } catch {
    /* already gone */
  }
  return true;
}
