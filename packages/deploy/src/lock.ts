/**
 * The per-host deploy lock: the file `~/.flotilla/locks/deploy`, created exclusively (O_EXCL:
 * SFTP open with `wx`, or `set -C` in sh) and holding its owner, so two deploys to one host never
 * interleave. A second deploy fails fast with `deploy-locked`, naming
 * the holder.
 */
import { hostname, userInfo } from 'node:os';
import { currentHolder, holderFields, holderState, parseHolder, type LockHere } from '@flotilla/sys';
import type { Connection } from './connection.js';
import { DeployError, isTimeoutError } from './errors.js';
import { shellQuote } from './quote.js';

const LOCK = '"$HOME"/.flotilla/locks/deploy';

function owner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  // `start=… boot=…` after the old fields: older flo versions still parse the line (their
  // pattern stops after "since"), and this one can tell a dead or reused pid from the holder.
  return `${user}@${hostname()} pid ${process.pid} since ${new Date().toISOString()}${holderFields(currentHolder())}`;
}

const LOCK_PATH = '~/.flotilla/locks/deploy';

function locked(c: Connection, holder: string): DeployError {
  return Object.assign(
    new DeployError(
      'deploy-locked',
      `another deploy holds the lock on ${c.host} (${holder.trim() || 'owner unknown'}); if it is stale, remove ~/.flotilla/locks/deploy on the host`,
      { host: c.host },
    ),
    { holder },
  );
}

/**
 * Whether a lock holder (`user@machine pid N since … [start=… boot=…]`, see {@link owner}) is a
 * process of this machine that no longer runs: a flo killed with SIGKILL (also while it is
 * still a zombie its parent has not reaped), a machine crash (another boot id), or a pid that
 * now belongs to another process (another start time). A live pid, this process, another
 * machine, or an unreadable holder is never stale. The check is the one shared with the Raft
 * LOCK and the file store lock (@flotilla/sys).
 */
export function isStaleHolder(holder: string, here?: LockHere): boolean {
  const h = parseHolder(holder);
  if (!h || h.pid === process.pid) return false;
  return holderState(h, here) === 'dead';
}

/**
 * After a task failed because its host stopped answering (a timeout, a lost connection), the
 * lock is released within this long or left for the next flo (it is stale once this process has
 * exited) — so a frozen host does not hold the run past its timeout.
 */
const HURRIED_RELEASE_MS = 1000;

/**
 * Runs `fn` holding the host's deploy lock; the lock is released afterwards, even on failure.
 * The lock is taken with file operations (an exclusive SFTP open) when the transport has them,
 * so it costs no remote process; otherwise with `set -C` (noclobber, O_EXCL) in sh. A lock left
 * by a flo of this machine that no longer runs is removed (only if it still names that holder)
 * and taken, with a warning; any other holder makes it fail with `deploy-locked`.
 */
export async function withDeployLock<T>(c: Connection, fn: () => Promise<T>, options: { owner?: string; onWarning?: (message: string) => void } = {}): Promise<T> {
  const who = options.owner ?? owner();
  let release: (timeoutMs?: number) => Promise<boolean>;
  try {
    release = await takeLock(c, who);
  } catch (e) {
    const holder = (e as { holder?: string }).holder;
    if ((e as DeployError).code !== 'deploy-locked' || holder === undefined || !isStaleHolder(holder)) throw e;
    // Remove it only while it still names the dead holder, then take it as usual.
    await c.run(`f=${LOCK}; [ "$(cat "$f" 2>/dev/null)" = ${shellQuote(holder.trim())} ] && rm -f "$f"; :`, { hide: true });
    options.onWarning?.(`${c.host}: removed a stale deploy lock (${holder.trim()}: that process no longer runs)`);
    release = await takeLock(c, who);
  }
  let hurry = false;
  try {
    return await fn();
  } catch (e) {
    hurry = isTimeoutError(e) || (e as DeployError).code === 'connection-lost';
    throw e;
  } finally {
    const released = await release(hurry ? HURRIED_RELEASE_MS : undefined);
    if (!released)
      options.onWarning?.(
        `${c.host}: could not release the deploy lock; the next flo from this machine takes it over once this process has exited, or remove ~/.flotilla/locks/deploy on the host`,
      );
  }
}

/** Takes the lock; resolves to its release, which resolves to whether the lock was removed. */
async function takeLock(c: Connection, who: string): Promise<(timeoutMs?: number) => Promise<boolean>> {
  let files: Awaited<ReturnType<Connection['files']>> | undefined;
  try {
    files = await c.files();
    if (!(await files.createExclusive(LOCK_PATH, Buffer.from(`${who}\n`), 0o600))) {
      const holder = await files.readFile(LOCK_PATH).then(
        (b) => b.toString('utf8'),
        () => '',
      );
      throw locked(c, holder);
    }
  } catch (e) {
    if ((e as DeployError).code !== 'transfer-failed') throw e;
    files = undefined;
  }
  if (files) {
    return async (timeoutMs) => {
      const bound = timeoutMs === undefined ? {} : { timeoutMs };
      return c
        .files(bound)
        .then((f) => f.remove(LOCK_PATH))
        .catch((e: unknown) => (isTimeoutError(e) ? Promise.reject(e) : c.run(`rm -f ${LOCK}`, { hide: true, ...bound })))
        .then(
          () => true,
          () => false,
        );
    };
  }
  const r = await c.run(
    `mkdir -p "$HOME"/.flotilla/locks && if (set -C; printf '%s\\n' ${shellQuote(who)} > ${LOCK}) 2>/dev/null; then :; else cat ${LOCK} 2>/dev/null; exit 75; fi`,
    { hide: true, warn: true },
  );
  if (r.exitCode === 75) throw locked(c, r.stdout);
  if (r.exitCode !== 0) throw new DeployError('deploy-locked', `cannot take the deploy lock on ${c.host}: ${r.stderr.trim()}`, { host: c.host });
  return async (timeoutMs) =>
    c.run(`rm -f ${LOCK}`, { hide: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) }).then(
      () => true,
      () => false,
    );
}
