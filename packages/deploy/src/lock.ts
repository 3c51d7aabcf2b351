/**
 * The per-host deploy lock: the file `~/.flotilla/locks/deploy`, created exclusively (O_EXCL:
 * SFTP open with `wx`, or `set -C` in sh) and holding its owner, so two deploys to one host never
 * interleave. A second deploy fails fast with `DEPLOY_LOCKED`, naming
 * the holder.
 */
import { hostname, userInfo } from 'node:os';
import type { Connection } from './connection.js';
import { DeployError } from './errors.js';
import { shellQuote } from './quote.js';

const LOCK = '"$HOME"/.flotilla/locks/deploy';

function owner(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
}

const LOCK_PATH = '~/.flotilla/locks/deploy';

function locked(c: Connection, holder: string): DeployError {
  return new DeployError(
    'DEPLOY_LOCKED',
    `another deploy holds the lock on ${c.host} (${holder.trim() || 'owner unknown'}); if it is stale, remove ~/.flotilla/locks/deploy on the host`,
    { host: c.host },
  );
}

/**
 * Runs `fn` holding the host's deploy lock; the lock is released afterwards, even on failure.
 * The lock is taken with file operations (an exclusive SFTP open) when the transport has them,
 * so it costs no remote process; otherwise with `set -C` (noclobber, O_EXCL) in sh.
 */
export async function withDeployLock<T>(c: Connection, fn: () => Promise<T>, options: { owner?: string } = {}): Promise<T> {
  const who = options.owner ?? owner();
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
    if ((e as DeployError).code !== 'TRANSFER_FAILED') throw e;
    files = undefined;
  }
  if (files) {
    const f = files;
    try {
      return await fn();
    } finally {
      await f
        .remove(LOCK_PATH)
        .catch(() => c.run(`rm -f ${LOCK}`, { hide: true, warn: true }))
        .catch(() => undefined);
    }
  }
  const r = await c.run(
    `mkdir -p "$HOME"/.flotilla/locks && if (set -C; printf '%s\\n' ${shellQuote(who)} > ${LOCK}) 2>/dev/null; then :; else cat ${LOCK} 2>/dev/null; exit 75; fi`,
    { hide: true, warn: true },
  );
  if (r.exitCode === 75) throw locked(c, r.stdout);
  if (r.exitCode !== 0) throw new DeployError('DEPLOY_LOCKED', `cannot take the deploy lock on ${c.host}: ${r.stderr.trim()}`, { host: c.host });
  try {
    return await fn();
  } finally {
    await c.run(`rm -f ${LOCK}`, { hide: true, warn: true }).catch(() => undefined);
  }
}
