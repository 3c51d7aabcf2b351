/**
 * The per-host deploy lock: `~/.flotilla/locks/deploy` is created with `mkdir` (atomic), so two
 * deploys to one host never interleave. A second deploy fails fast with `DEPLOY_LOCKED`, naming
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
 * The lock is taken with file operations (SFTP `mkdir`, atomic) when the transport has them,
 * so it costs no remote process; otherwise with `mkdir` in sh.
 */
export async function withDeployLock<T>(c: Connection, fn: () => Promise<T>, options: { owner?: string } = {}): Promise<T> {
  const who = options.owner ?? owner();
  let files: Awaited<ReturnType<Connection['files']>> | undefined;
  try {
    files = await c.files();
    await files.mkdirp('~/.flotilla/locks', 0o700);
    if (!(await files.mkdirExclusive(LOCK_PATH, 0o700))) {
      const holder = await files.readFile(`${LOCK_PATH}/owner`).then(
        (b) => b.toString('utf8'),
        () => '',
      );
      throw locked(c, holder);
    }
    await files.writeFile(`${LOCK_PATH}/owner`, Buffer.from(`${who}\n`), 0o600);
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
        .remove(`${LOCK_PATH}/owner`)
        .then(() => f.remove(LOCK_PATH, { rmdir: true }))
        .catch(() => c.run(`rm -rf ${LOCK}`, { hide: true, warn: true }))
        .catch(() => undefined);
    }
  }
  const r = await c.run(
    `mkdir -p "$HOME"/.flotilla/locks && if mkdir ${LOCK} 2>/dev/null; then printf '%s\\n' ${shellQuote(who)} > ${LOCK}/owner; else cat ${LOCK}/owner 2>/dev/null; exit 75; fi`,
    { hide: true, warn: true },
  );
  if (r.exitCode === 75) throw locked(c, r.stdout);
  if (r.exitCode !== 0) throw new DeployError('DEPLOY_LOCKED', `cannot take the deploy lock on ${c.host}: ${r.stderr.trim()}`, { host: c.host });
  try {
    return await fn();
  } finally {
    await c.run(`rm -rf ${LOCK}`, { hide: true, warn: true }).catch(() => undefined);
  }
}
