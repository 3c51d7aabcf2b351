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

/** Runs `fn` holding the host's deploy lock; the lock is released afterwards, even on failure. */
export async function withDeployLock<T>(c: Connection, fn: () => Promise<T>, options: { owner?: string } = {}): Promise<T> {
  const who = options.owner ?? owner();
  const r = await c.run(
    `mkdir -p "$HOME"/.flotilla/locks && if mkdir ${LOCK} 2>/dev/null; then printf '%s\\n' ${shellQuote(who)} > ${LOCK}/owner; else cat ${LOCK}/owner 2>/dev/null; exit 75; fi`,
    { hide: true, warn: true },
  );
  if (r.exitCode === 75)
    throw new DeployError(
      'DEPLOY_LOCKED',
      `another deploy holds the lock on ${c.host} (${r.stdout.trim() || 'owner unknown'}); if it is stale, remove ~/.flotilla/locks/deploy on the host`,
      { host: c.host },
    );
  if (r.exitCode !== 0) throw new DeployError('DEPLOY_LOCKED', `cannot take the deploy lock on ${c.host}: ${r.stderr.trim()}`, { host: c.host });
  try {
    return await fn();
  } finally {
    await c.run(`rm -rf ${LOCK}`, { hide: true, warn: true }).catch(() => undefined);
  }
}
